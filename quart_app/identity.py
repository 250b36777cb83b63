"""Who this request is: log in, log out, the current user, and the per-request user load.

Login and logout are verbs here, as Flask-Login and Django's ``auth.login()``
have them, so views never touch session internals. ``login_user`` cycles the
session (Django's ``cycle_key``: a new id, the visitor's own data kept, the
old record deleted: a ``clear()`` alone would keep the id and reopen session
fixation); ``logout_user`` ends it and everything in it. The backend applies
the lifetimes when it opens the session; ``load_current_user`` is the only
place that turns a session into a user, once per request (memoised: the
request path asks first, error pages ask again for free): it checks that the
user still exists and the user's session version.

Each verb announces what it did as an ``events`` signal (the audit log
subscribes); the operator's CLI calls the same verbs as the pages.
"""

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final, NamedTuple
from urllib.parse import urlencode

from quart import ResponseReturnValue, g, redirect, request

from . import csrf, throttle
from .audit import session_reference
from .events import Event, emit
from .sessions import EndedSession, current_session, get_backend, get_policy
from .sessions.policy import CSRF_TOKEN, ENDED, STARTED, USER_ID, VERSION, Ending, Verdict
from .throttle import LoginThrottledError
from .users import User, get_store, username_problem

WRONG_PASSWORD: Final = "That is not your current password."  # noqa: S105 - a message

type View = Callable[..., Awaitable[ResponseReturnValue]]


class FailedLogin(NamedTuple):
    """A refused password, and how many more the typed name may fail before its pause."""

    attempts_left: int
    pause_ends_in: int


class SessionTimes(NamedTuple):
    """What the profile page tells about this session."""

    logged_in_at: int
    expires_at: int
    remembered: bool


def session_times() -> SessionTimes:
    """When this login started and when the server will end it without more activity."""
    current = current_session()
    return SessionTimes(current[STARTED], get_policy().expires_at(current), current.permanent)


def take_ending() -> Ending | None:
    """Why this browser's last login ended without its logging out, told once (the login
    page says it); None for a browser that never had one, or was told already."""
    return Ending.named(current_session().pop(ENDED, None))


def current_user() -> User | None:
    """The logged-in user of this request, or None for an anonymous visitor.

    Synchronous for views and templates: the request path has already
    awaited ``load_current_user``; before that (a request refused early)
    nobody is logged in.
    """
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
    return session_reference(get_backend().secret(current_session()))


@contextlib.asynccontextmanager
async def _announcing_throttle() -> AsyncIterator[None]:
    """Announce a throttled attempt (login, confirmation, registration) and let it go on up."""
    try:
        yield
    except LoginThrottledError as error:
        emit(Event.LOGIN_THROTTLED, path=request.path, limits=",".join(error.limits),
             retry_after=error.retry_after)
        raise


async def login_user(user: User, *, remember: bool) -> None:
    """Start a new login on this browser for a user who just proved who they are.

    The session gets a new id and a new CSRF token; what the visitor kept in
    it before (a cart, a theme) stays, unless another user was logged in on
    it, whose data is none of this user's business.
    """
    await _start_session(user, remember=remember)
    emit(Event.LOGIN_SUCCEEDED, user_id=user.id, session=_reference(), remember=remember)


async def _start_session(user: User, *, remember: bool) -> None:
    current = current_session()
    current.cycle(keep_data=current.get(USER_ID, user.id) == user.id)
    get_policy().start(current, user.id, user.username, user.session_version,
                       remember=remember)
    await get_backend().persist(current)
    csrf.discard_anonymous_token()
    g.user = user


async def logout_user() -> None:
    """End this session: its data, its record where a store keeps one, and the cookie."""
    user = current_user()
    reference = _reference()
    await _end_session()
    if user is not None:
        emit(Event.LOGOUT, user_id=user.id, session=reference)


async def _end_session() -> None:
    current = current_session()
    current.cycle(keep_data=False)
    await get_backend().persist(current)
    g.user = None


async def authenticate(username: str, password: str) -> User | FailedLogin:
    """The login verb's password check, behind the throttle (ASVS 6.3.1).

    The attempt is counted first and refused past a limit with
    ``LoginThrottledError`` before any hash is computed; a success clears the
    account's count, and a refusal by the full hashing queue or a database
    outage takes the attempt back (no password was tried). The throttle stands
    here, not in the user store, so the operator's CLI is never locked out.
    A failure is announced with the typed name only if it could be a
    username, never a password typed into the wrong field; it says how many
    attempts the typed name has left, counted alike whether or not such an
    account exists, so the warning tells nothing the page did not.
    """
    guard = throttle.get_throttle()
    async with _announcing_throttle():
        counted = await guard.login_attempt(username, request.remote_addr)
    async with guard.login_checked(username, request.remote_addr):
        user = await get_store().authenticate(username, password)
    if user is None:
        emit(Event.LOGIN_FAILED,
             account=username if username_problem(username) is None else None)
        return FailedLogin(guard.account.attempts - counted.count, counted.resets_in)
    await guard.login_succeeded(username, request.remote_addr)
    return user


async def register_account(username: str, password: str) -> User:
    """Create an account from the registration page, throttled per client address.

    Raises ``UsernameTakenError``; a refusal by the hashing queue gives the
    attempt back, as at login.
    """
    guard = throttle.get_throttle()
    async with _announcing_throttle():
        await guard.registration_attempt(request.remote_addr)
    async with guard.registration_made(request.remote_addr):
        return await create_account(username, password)


async def create_account(username: str, password: str) -> User:
    """Create an account (the page's ``register`` and the CLI's ``users create``)."""
    user = await get_store().create(username, password)
    emit(Event.REGISTERED, user_id=user.id)
    return user


async def confirm_password(user: User, password: str, *, action: str) -> bool:
    """Ask for the password again before an account change (ASVS 7.5.1).

    It is throttled like any password check, before any hash, but on its
    own counters (the address, this session, the account's confirmations),
    not the account's login counter: strangers guessing at the login form
    cannot keep the owner out of their account pages, and a stolen session,
    or many, still cannot guess without limit. A right password clears this
    session's count; a wrong one is an audit event naming the ``action`` it
    was meant to allow.
    """
    guard = throttle.get_throttle()
    secret = get_backend().secret(current_session())
    async with _announcing_throttle():
        await guard.confirmation_attempt(user.username, secret, request.remote_addr)
    async with guard.confirmation_checked(user.username, secret, request.remote_addr):
        confirmed = await get_store().authenticate(user.username, password) is not None
    if confirmed:
        await guard.confirmation_succeeded(secret)
        return True
    emit(Event.PASSWORD_CONFIRMATION_FAILED, user_id=user.id, session=_reference(),
         action=action)
    return False


async def end_other_sessions(user: User) -> User:
    """Keep this session and end every other one of the user ("log out everywhere else").

    Kept sessions are deleted; and the user's session version goes up, which
    ends the copies of signed cookies no server can reach. This session is
    re-signed with the new version.
    """
    backend = get_backend()
    current = current_session()
    ended = await backend.end_user_sessions(user.id, Ending.ENDED_ELSEWHERE,
                                            keep=backend.secret(current))
    bumped = await get_store().bump_session_version(user.id, Ending.ENDED_ELSEWHERE)
    if bumped is None:
        await logout_user()
        return user
    current[VERSION] = bumped.session_version
    g.user = bumped
    emit(Event.OTHER_SESSIONS_ENDED, user_id=user.id, session=_reference(), ended=ended,
         session_version=bumped.session_version)
    return bumped


async def revoke_session(user: User, handle: str) -> EndedSession | None:
    """End one of the user's own sessions by its public handle; None if it is not theirs
    (or no longer exists). This very session is a logout."""
    backend = get_backend()
    current = current_session()
    if handle == backend.handle(current):
        ended = EndedSession(backend.secret(current) or "", request.headers.get("User-Agent", ""))
        await logout_user()
        return ended
    return await end_user_session(user, handle, by=_reference())


async def end_user_session(user: User, handle: str, *,
                           by: str | None = None) -> EndedSession | None:
    """End one session of a user by its handle (the page, or the CLI without ``by``); its
    device is told it was ended from another device, or by the administrator."""
    ending = Ending.ENDED_BY_OPERATOR if by is None else Ending.ENDED_ELSEWHERE
    ended = await get_backend().end_user_session(user.id, handle, ending)
    if ended is not None:
        emit(Event.SESSION_REVOKED, user_id=user.id, session=session_reference(ended.secret),
             by=by)
    return ended


async def _replace_password(username: str, new_password: str) -> User | None:
    """Set a password and end every session of that user, kept or in signed cookies.

    The user store bumps the session version (signed cookies end); the
    backend deletes the kept sessions, so none stays listed.
    """
    updated = await get_store().set_password(username, new_password,
                                             ending=Ending.PASSWORD_CHANGED)
    if updated is not None:
        await get_backend().end_user_sessions(updated.id, Ending.PASSWORD_CHANGED)
    return updated


async def set_password(username: str, new_password: str) -> User | None:
    """The operator's password reset: every session of that user ends; None if unknown."""
    updated = await _replace_password(username, new_password)
    if updated is not None:
        emit(Event.PASSWORD_CHANGED, user_id=updated.id)
    return updated


async def _remove_account(username: str) -> User | None:
    users = get_store()
    user = await users.find(username)
    if user is None or not await users.delete(username):
        return None
    await get_backend().end_user_sessions(user.id, Ending.ACCOUNT_DELETED)
    return user


async def remove_account(username: str) -> User | None:
    """The operator's deletion of an account and every session it has kept; None if unknown."""
    user = await _remove_account(username)
    if user is not None:
        emit(Event.ACCOUNT_DELETED, user_id=user.id)
    return user


async def end_every_session(user: User) -> int:
    """The operator ends all of a user's sessions, kept or in signed cookies; how many kept
    ones ended."""
    ended = await get_backend().end_user_sessions(user.id, Ending.ENDED_BY_OPERATOR)
    bumped = await get_store().bump_session_version(user.id, Ending.ENDED_BY_OPERATOR)
    emit(Event.ALL_SESSIONS_ENDED, user_id=user.id, ended=ended,
         session_version=None if bumped is None else bumped.session_version)
    return ended


async def change_password(user: User, new_password: str) -> None:
    """Set a new password: every session of the user ends, this one goes on under a new id."""
    updated = await _replace_password(user.username, new_password)
    if updated is None:
        await logout_user()
        return
    previous = _reference()
    await _start_session(updated, remember=current_session().permanent)
    emit(Event.PASSWORD_CHANGED, user_id=user.id, session=_reference(), previous=previous)


async def delete_account(user: User) -> None:
    """Remove the account and every session of it, and log this browser out."""
    await _remove_account(user.username)
    reference = _reference()
    await _end_session()
    emit(Event.ACCOUNT_DELETED, user_id=user.id, session=reference)


def forget_user() -> None:
    """Treat the rest of this request as anonymous (its session could not be checked)."""
    g.user = None


async def load_current_user() -> None:
    """Decide this request's user once; ``current_user()`` then answers from memory.

    The request path calls it for every request; an error page refused
    before that (host check, CSRF) calls it too, and a load that failed
    (an outage) is not tried again: the request stays anonymous.
    """
    if "user" not in g:
        g.user = None
        await _load_user()


async def _load_user() -> None:
    """Accept the session's login only while its user exists with the same session version.

    A session carrying a newer version than this worker's cached user means
    the cache is stale (another worker changed the password a moment ago),
    not that the session is revoked: the user is read again before deciding.
    """
    if request.endpoint == "static":
        return
    current = current_session()
    if current.refused is not None:
        _audit_refusal(current.refused, current.before_refusal)
    if current.ended is not None:
        current[ENDED] = current.ended.value
        return
    if USER_ID not in current:
        return
    users = get_store()
    user = await users.get(current[USER_ID])
    if user is not None and user.session_version < current[VERSION]:
        user = await users.get_fresh(current[USER_ID])
    if user is None or user.session_version != current[VERSION]:
        user_id, reference = current[USER_ID], _reference()
        ending = (Ending.ACCOUNT_DELETED if user is None
                  else await _ending_since(user_id, current[VERSION]))
        await _end_session()
        current[ENDED] = ending.value
        emit(Event.SESSION_REFUSED, user_id=user_id, session=reference, reason="revoked")
        return
    g.user = user


async def _ending_since(user_id: int, version: int) -> Ending:
    """Why sessions of this version ended, as recorded with the bump; "ended elsewhere"
    where nothing (or nothing known) was recorded."""
    recorded = Ending.named(await get_store().ending_since(user_id, version))
    return recorded or Ending.ENDED_ELSEWHERE


def _audit_refusal(verdict: Verdict, refused: dict[str, object]) -> None:
    """Record a login the lifetimes ended; an anonymous visitor's expired data is no event."""
    if USER_ID not in refused and verdict is not Verdict.MALFORMED:
        return
    secret = get_backend().secret(current_session()) or refused.get(CSRF_TOKEN)
    emit(Event.SESSION_REFUSED, user_id=None,
         session=session_reference(secret if isinstance(secret, str) else None),
         reason=verdict.name.lower())
