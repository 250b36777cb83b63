"""Who this request is: log in, log out, the current user, and the per-request user load.

Login and logout are verbs here, as Flask-Login and Django's ``auth.login()``
have them, so views never touch session internals. ``login_user`` rotates the
session (a server-side store deletes the old record and mints a new id: a
``clear()`` alone would keep the id and reopen session fixation);
``logout_user`` ends it, server-side too. ``load_logged_in_user`` runs before
every request and is the only place that turns a session into a user: it
applies the server-side lifetimes and the user's session version.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from quart import ResponseReturnValue, g, redirect, request, session

from . import csrf, sessions
from .sessions import Verdict, get_policy
from .sessions.policy import USER_ID, VERSION
from .users import User, get_store

log = logging.getLogger(__name__)

type View = Callable[..., Awaitable[ResponseReturnValue]]


def current_user() -> User | None:
    """The logged-in user of this request, or None for an anonymous visitor."""
    user: User | None = g.get("user")
    return user


def login_required(view: View) -> View:
    """Send anonymous visitors to the login page, remembering where they wanted to go."""

    @functools.wraps(view)
    async def wrapped(*args: object, **kwargs: object) -> ResponseReturnValue:
        if current_user() is None:
            target = request.full_path.removesuffix("?")
            return redirect("/login?" + urlencode({"next": target}, safe="/"), 302)
        return await view(*args, **kwargs)

    return wrapped


async def login_user(user: User, *, remember: bool) -> None:
    """Start a brand-new session for a user who just proved who they are.

    Nothing from before the login survives: not the session id, not its data,
    not the anonymous CSRF token.
    """
    sessions.rotate(session)
    get_policy().start(session, user.id, user.username, user.session_version,
                       remember=remember)
    await sessions.persist(session)
    csrf.discard_anonymous_token()
    g.user = user
    log.info("login user_id=%d remember=%s", user.id, remember)


async def logout_user() -> None:
    """End this session: the record is deleted where a store keeps one, the cookie too."""
    user = current_user()
    session.clear()
    await sessions.persist(session)
    g.user = None
    if user is not None:
        log.info("logout user_id=%d", user.id)


async def load_logged_in_user() -> None:
    """Accept the session only while every server-side rule still holds."""
    g.user = None
    if request.endpoint == "static":
        return
    policy = get_policy()
    verdict = policy.check(session)
    if verdict is Verdict.ANONYMOUS:
        return
    if verdict is not Verdict.VALID:
        log.info("session refused: %s", verdict)
        await _end_refused_session()
        return
    user = await get_store().get(session[USER_ID])
    if user is None or user.session_version != session[VERSION]:
        log.info("session refused: user deleted or sessions revoked")
        await _end_refused_session()
        return
    policy.touch(session)
    if session.modified:
        await sessions.persist(session)
        if USER_ID not in session:  # revoked while this request was in flight
            return
    g.user = user


async def _end_refused_session() -> None:
    session.clear()
    await sessions.persist(session)
