"""Routes only: a user sees and ends their own sessions (OWASP ASVS 7.5.2)."""

from typing import Final

from quart import Blueprint, ResponseReturnValue, abort, redirect, request
from quart.sessions import SecureCookieSession

from . import sessions
from .devices import device_in_words
from .identity import (
    WRONG_PASSWORD,
    confirm_password,
    current_user,
    end_other_sessions,
    login_required,
    revoke_session,
)
from .sessions import get_policy
from .sessions.policy import LAST_SEEN, LOGGED_IN_AT, PERMANENT
from .templating import render

bp = Blueprint("sessions_page", __name__)

OTHERS_ENDED: Final = "Every other session has been logged out."


async def render_sessions(status: int = 200, error: str | None = None,
                          notice: str | None = None) -> ResponseReturnValue:
    """The list of the user's sessions, this one marked, with the forms that end them."""
    user = current_user()
    assert user is not None
    stored = await sessions.stored_sessions(user.id)
    current = sessions.current_handle()
    rows = [{
        "handle": s.handle, "current": s.handle == current,
        "device": device_in_words(s.meta.get("user_agent", "")),
        "address": s.meta.get("address", ""), "created": s.data.get(LOGGED_IN_AT, 0),
        "last_seen": s.data.get(LAST_SEEN, 0), "remembered": s.data.get(PERMANENT, False),
        "expires": get_policy().expires_at(SecureCookieSession(s.data)),
    } for s in stored or []]
    page = render("sessions.html", rows=rows, listed=stored is not None,
                  error=error, notice=notice or _notice_from_query(),
                  device=device_in_words(request.headers.get("User-Agent", "")))
    return page, status


def _notice_from_query() -> str | None:
    return OTHERS_ENDED if "ended" in request.args else None


@bp.get("/sessions")
@login_required
async def list_sessions() -> ResponseReturnValue:
    """Every live session of this user: when, where from, on what, and until when."""
    return await render_sessions()


@bp.post("/sessions/<handle>/revoke")
@login_required
async def revoke(handle: str) -> ResponseReturnValue:
    """End one session; one that is not the user's own is as unknown as a made-up one."""
    user = current_user()
    assert user is not None
    if not await revoke_session(user, handle):
        abort(404)
    if current_user() is None:  # the user ended this very session
        return redirect("/logout", 303)
    return redirect("/sessions", 303)


@bp.post("/sessions/revoke-others")
@login_required
async def revoke_others() -> ResponseReturnValue:
    """End every session but this one, once the user has typed their password again."""
    user = current_user()
    assert user is not None
    if not await confirm_password(user, (await request.form).get("password", ""),
                                  action="log out everywhere else"):
        return await render_sessions(403, WRONG_PASSWORD)
    await end_other_sessions(user)
    return redirect("/sessions?ended", 303)
