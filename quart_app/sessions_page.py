"""Routes only: a user sees and ends their own sessions (OWASP ASVS 7.5.2)."""

from typing import Final

from quart import Blueprint, ResponseReturnValue, flash, redirect, request

from .csrf import EXPIRED, form_expired, resends_expired_form
from .devices import device_in_words
from .identity import (
    WRONG_PASSWORD,
    confirm_password,
    current_user,
    end_other_sessions,
    login_required,
    revoke_session,
    session_times,
)
from .sessions import current_session, get_backend
from .templating import render

bp = Blueprint("sessions_page", __name__)

PAGE_SIZE: Final = 20

OTHERS_ENDED: Final = "Every other session has been logged out."
DEVICE_LOGGED_OUT: Final = "{device} has been logged out."
THIS_DEVICE_LOGGED_OUT: Final = "This device has been logged out."
ALREADY_ENDED: Final = "That session had already ended."


async def render_sessions(status: int = 200, error: str | None = None,
                          notice: str | None = None, *,
                          wrong_password: bool = False) -> ResponseReturnValue:
    """The list of the user's sessions, this one first and marked, with the forms that end
    them; where sessions are not kept (the cookie backend), this one's device and login time.

    "Log out everywhere else" is offered unless the list shows this session alone (or
    ``wrong_password`` asks for the field again, marked invalid).
    """
    user = current_user()
    assert user is not None
    backend = get_backend()
    stored = await backend.user_sessions(user.id)
    current = backend.handle(current_session())
    # This device first, the others most recently active first (the backend's order).
    listed = sorted(stored or (), key=lambda s: s.handle != current)
    page_count = _page_count(len(listed))
    page_number = _page_number(page_count)
    shown = listed[(page_number - 1) * PAGE_SIZE:page_number * PAGE_SIZE]
    rows = [{
        "handle": s.handle, "current": s.handle == current, "device": device_in_words(s.user_agent),
        "address": s.address, "created": s.started, "last_seen": s.last_seen,
        "remembered": s.remembered, "expires": s.expires_at,
    } for s in shown]
    pages = {"number": page_number, "count": page_count, "total": len(listed)}
    page = render("sessions.html", rows=rows, listed=stored is not None, pages=pages,
                  others=stored is None or len(stored) > 1, wrong_password=wrong_password,
                  error=error, notice=notice or _notice_from_query(),
                  device=device_in_words(request.headers.get("User-Agent", "")),
                  logged_in_at=session_times().logged_in_at)
    return page, status


def _page_count(total: int) -> int:
    """How many pages ``total`` sessions fill (an empty list is one page)."""
    return max(1, -(-total // PAGE_SIZE))


def _page_number(last: int) -> int:
    """The ``?page=`` asked for, within the ``last`` pages there are (a bad one is the first)."""
    asked = request.args.get("page", "1")
    return min(int(asked), last) if asked.isdecimal() and 0 < len(asked) < 6 and int(asked) else 1


def _notice_from_query() -> str | None:
    return OTHERS_ENDED if "ended" in request.args else None


@bp.get("/sessions")
@login_required
async def list_sessions() -> ResponseReturnValue:
    """Every live session of this user: when, where from, on what, and until when."""
    return await render_sessions()


@bp.post("/sessions/<handle>/revoke")
@login_required
@resends_expired_form
async def revoke(handle: str) -> ResponseReturnValue:
    """End one session and say which device it was.

    A session already ended (a button from an older tab), another user's and
    a made-up handle all get the same answer: there is nothing left to end.
    """
    user = current_user()
    assert user is not None
    if form_expired():
        return await render_sessions(400, EXPIRED)
    ended = await revoke_session(user, handle)
    if ended is None:
        await flash(ALREADY_ENDED)
        return redirect("/sessions", 303)
    if current_user() is None:  # the user ended this very session
        await flash(THIS_DEVICE_LOGGED_OUT)
        return redirect("/logout", 303)
    await flash(DEVICE_LOGGED_OUT.format(device=device_in_words(ended.user_agent)))
    return redirect("/sessions", 303)


@bp.post("/sessions/revoke-others")
@login_required
@resends_expired_form
async def revoke_others() -> ResponseReturnValue:
    """End every session but this one, once the user has typed their password again."""
    user = current_user()
    assert user is not None
    if form_expired():
        return await render_sessions(400, EXPIRED)
    if not await confirm_password(user, (await request.form).get("password", ""),
                                  action="log out everywhere else"):
        return await render_sessions(403, WRONG_PASSWORD, wrong_password=True)
    await end_other_sessions(user)
    return redirect("/sessions?ended", 303)
