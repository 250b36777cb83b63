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
from collections.abc import Awaitable, Callable
from typing import Final, NamedTuple
from urllib.parse import urlencode

from quart import ResponseReturnValue, g, redirect, request, session
from quart.sessions import SessionMixin

from . import audit, csrf, sessions, throttle
from .audit import Event
from .sessions import Verdict, get_policy
from .sessions.policy import LOGGED_IN_AT, USER_ID, VERSION
from .users import User, get_store

WRONG_PASSWORD: Final = "That is not your current password."  # noqa: S105 - a message

type View = Callable[..., Awaitable[ResponseReturnValue]]


class SessionTimes(NamedTuple):
    """What the profile page tells about this session."""

    logged_in_at: int
    expires_at: int
    remembered: bool


def _this_session() -> SessionMixin:
    """The session behind Quart's proxy: one lookup, not one per field read."""
    current: SessionMixin = session._get_current_object()
    return current


def session_times() -> SessionTimes:
    """When this login started and when the server will end it without more activity."""
    current = _this_session()
    return SessionTimes(current[LOGGED_IN_AT], get_policy().expires_at(current),
                        current.permanent)


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


def _reference() -> str | None:
    """This request's session as the audit log names it."""
    return audit.session_reference(sessions.current_secret())


async def login_user(user: User, *, remember: bool) -> None:
    """Start a brand-new session for a user who just proved who they are.

    Nothing from before the login survives: not the session id, not its data,
    not the anonymous CSRF token.
    """
    await _start_session(user, remember=remember)
    audit.record(Event.LOGIN_SUCCEEDED, user_id=user.id, session=_reference(),
                 remember=remember)


async def _start_session(user: User, *, remember: bool) -> None:
    sessions.rotate(session)
    get_policy().start(session, user.id, user.username, user.session_version,
                       remember=remember)
    await sessions.persist(session)
    csrf.discard_anonymous_token()
    g.user = user


async def logout_user() -> None:
    """End this session: the record is deleted where a store keeps one, the cookie too."""
    user = current_user()
    reference = _reference()
    await _end_session()
    if user is not None:
        audit.record(Event.LOGOUT, user_id=user.id, session=reference)


async def _end_session() -> None:
    session.clear()
    await sessions.persist(session)
    g.user = None


async def authenticate(username: str, password: str) -> User | None:
    """The login verb's password check, behind the throttle (ASVS 6.3.1).

    The attempt is counted first and refused past a limit with
    ``LoginThrottledError`` before any hash is computed; a success clears the
    account's count, and a refusal by the full hashing queue or a database
    outage takes the attempt back (no password was tried). The throttle stands
    here, not in the user store, so the operator's CLI is never locked out.
    """
    guard = throttle.get_throttle()
    await guard.login_attempt(username, request.remote_addr)
    async with guard.login_checked(username, request.remote_addr):
        user = await get_store().authenticate(username, password)
    if user is not None:
        await guard.login_succeeded(username)
    return user


async def confirm_password(user: User, password: str, *, action: str) -> bool:
    """Ask for the password again before an account change (ASVS 7.5.1).

    It goes through the login throttle like any password check: a stolen
    session must not become an unthrottled way to guess its user's password.
    A wrong one is an audit event naming the ``action`` it was meant to allow.
    """
    if await authenticate(user.username, password) is not None:
        return True
    audit.record(Event.PASSWORD_CONFIRMATION_FAILED, user_id=user.id, session=_reference(),
                 action=action)
    return False


async def end_other_sessions(user: User) -> User:
    """Keep this session and end every other one of the user ("log out everywhere else").

    A server-side store deletes the other records; the cookie backend, which
    cannot reach other browsers' cookies, bumps the user's session version
    and re-signs this session with the new one.
    """
    store = sessions.get_store()
    if store is not None:
        current = sessions.current_handle()
        others = [stored for stored in await sessions.stored_sessions(user.id) or []
                  if stored.handle != current]
        for stored in others:
            await store.delete(stored.session_id)
        audit.record(Event.OTHER_SESSIONS_ENDED, user_id=user.id, session=_reference(),
                     ended=len(others))
        return user
    bumped = await get_store().bump_session_version(user.id)
    if bumped is None:
        await logout_user()
        return user
    session[VERSION] = bumped.session_version
    g.user = bumped
    audit.record(Event.OTHER_SESSIONS_ENDED, user_id=user.id, session=_reference(),
                 session_version=bumped.session_version)
    return bumped


async def revoke_session(user: User, handle: str) -> bool:
    """End one of the user's own sessions by its public handle; False if it is not theirs."""
    if handle == sessions.current_handle():
        await logout_user()
        return True
    store = sessions.get_store()
    for stored in await sessions.stored_sessions(user.id) or []:
        if stored.handle == handle and store is not None:
            await store.delete(stored.session_id)
            audit.record(Event.SESSION_REVOKED, user_id=user.id,
                         session=audit.session_reference(stored.session_id), by=_reference())
            return True
    return False


async def change_password(user: User, new_password: str) -> None:
    """Set a new password: every session of the user ends, this one goes on under a new id."""
    updated = await get_store().set_password(user.username, new_password)
    if updated is None:
        await logout_user()
        return
    store = sessions.get_store()
    if store is not None:
        await store.delete_user_sessions(user.id)
    previous = _reference()
    await _start_session(updated, remember=session.permanent)
    audit.record(Event.PASSWORD_CHANGED, user_id=user.id, session=_reference(),
                 previous=previous)


async def delete_account(user: User) -> None:
    """Remove the account and every session of it, and log this browser out."""
    await get_store().delete(user.username)
    store = sessions.get_store()
    if store is not None:
        await store.delete_user_sessions(user.id)
    reference = _reference()
    await _end_session()
    audit.record(Event.ACCOUNT_DELETED, user_id=user.id, session=reference)


async def load_logged_in_user() -> None:
    """Accept the session only while every server-side rule still holds."""
    g.user = None
    if request.endpoint == "static":
        return
    policy = get_policy()
    current = _this_session()
    verdict = policy.check(current)
    if verdict is Verdict.ANONYMOUS:
        return
    if verdict is not Verdict.VALID:
        await _end_refused_session(verdict.name.lower())
        return
    user = await get_store().get(current[USER_ID])
    if user is None or user.session_version != current[VERSION]:
        await _end_refused_session("revoked", user_id=current[USER_ID])
        return
    policy.touch(current)
    if current.modified:
        await sessions.persist(current)
        if USER_ID not in current:  # revoked while this request was in flight
            return
    g.user = user


async def _end_refused_session(reason: str, user_id: int | None = None) -> None:
    reference = _reference()
    await _end_session()
    audit.record(Event.SESSION_REFUSED, user_id=user_id, session=reference, reason=reason)
