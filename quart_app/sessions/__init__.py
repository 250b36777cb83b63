"""Session backends, the one table that names them, and the hooks every backend shares.

``cookie`` keeps the whole (signed) session in the browser; ``redis`` keeps it
in Redis with only an id in the cookie; ``memory`` does the same inside one
process, for tests. Each answers the ``SessionBackend`` verbs, so callers ask
``get_backend()`` and never which backend it is.
"""

from collections.abc import Callable, Mapping
from typing import Final, cast

from quart import Quart, current_app, session
from quart.globals import app_ctx
from quart.typing import ResponseTypes

from ..redis_client import shared_client
from .base import (
    AppSession,
    CookieAction,
    EndedSession,
    SessionBackend,
    SessionThrottledError,
    SessionTooLargeError,
    StoredSession,
)
from .cookie import SignedCookieSessionInterface
from .memory import MemoryStore
from .policy import SessionPolicy, Verdict
from .redis_store import RedisStore
from .server_side import Admission, ServerSideSessionInterface
from .store import SessionStore, SessionStoreUnavailableError

__all__ = [
    "BACKENDS",
    "AppSession",
    "CookieAction",
    "EndedSession",
    "SessionBackend",
    "SessionPolicy",
    "SessionStoreUnavailableError",
    "SessionThrottledError",
    "SessionTooLargeError",
    "StoredSession",
    "Verdict",
    "current_session",
    "get_backend",
    "get_policy",
    "get_store",
    "init_app",
]

EXTENSION_KEY: Final = "quart_app.session_policy"

type Backend = Callable[[Quart, SessionPolicy, Admission], SessionBackend]


def _cookie(app: Quart, policy: SessionPolicy, admit_new: Admission) -> SessionBackend:
    return SignedCookieSessionInterface(policy)


def _server_side(app: Quart, policy: SessionPolicy, admit_new: Admission,
                 store: SessionStore) -> SessionBackend:
    return ServerSideSessionInterface(
        store, policy, max_bytes=app.config["SESSION_MAX_BYTES"],
        max_per_user=app.config["SESSION_MAX_PER_USER"], admit_new=admit_new)


def _redis(app: Quart, policy: SessionPolicy, admit_new: Admission) -> SessionBackend:
    store = RedisStore(shared_client(app), app.config["SESSION_KEY_PREFIX"])
    return _server_side(app, policy, admit_new, store)


def _memory(app: Quart, policy: SessionPolicy, admit_new: Admission) -> SessionBackend:
    return _server_side(app, policy, admit_new, MemoryStore())


# The one table of backends: ``init_app`` builds from it, config validation checks against it.
BACKENDS: Final[Mapping[str, Backend]] = {"cookie": _cookie, "redis": _redis, "memory": _memory}
TEST_ONLY_BACKENDS: Final = frozenset({"memory"})


def init_app(app: Quart, admit_new: Admission) -> None:
    """Install the backend named by ``SESSION_BACKEND``; the factory installs the hooks below.

    ``admit_new`` is asked before a server-side record without a login is
    created (the per-address limit on new anonymous sessions).
    """
    policy = SessionPolicy(
        idle_timeout=app.config["SESSION_IDLE_TIMEOUT"],
        absolute_timeout=app.config["SESSION_ABSOLUTE_TIMEOUT"],
        permanent_lifetime=app.config["PERMANENT_SESSION_LIFETIME"],
        end_notice=app.config["SESSION_END_NOTICE"],
    )
    backend = BACKENDS[app.config["SESSION_BACKEND"]](app, policy, admit_new)
    app.session_interface = backend  # type: ignore[assignment]  # Quart types its default
    app.extensions[EXTENSION_KEY] = policy
    app.before_serving(backend.open)
    app.after_serving(backend.close)


def get_policy() -> SessionPolicy:
    """The current app's session limits."""
    policy = current_app.extensions[EXTENSION_KEY]
    assert isinstance(policy, SessionPolicy)
    return policy


def get_backend() -> SessionBackend:
    """The current app's session backend, whichever it is."""
    return cast(SessionBackend, current_app.session_interface)


def get_store() -> SessionStore | None:
    """The server-side store behind the backend, or None for signed cookies (tests, tools)."""
    backend = current_app.session_interface
    return backend.store if isinstance(backend, ServerSideSessionInterface) else None


def current_session() -> AppSession:
    """The session behind Quart's proxy, with the backend's own fields."""
    current = session._get_current_object()
    assert isinstance(current, AppSession)
    return current


async def raise_open_failure() -> None:
    """A store that failed while the session was opened fails the request here: a 503 page.

    Quart opens the session before its error handling starts, so the
    backend keeps the error instead of raising it there.
    """
    failure = current_session().failure
    if failure is not None:
        raise failure


async def write_session(response: ResponseTypes) -> ResponseTypes:
    """Write what the views put in the session before the response leaves.

    A store outage, an oversized session or too many new sessions from one
    address become that error's page (the app's error handlers decide, as for
    a view's own error) instead of the view's answer, so a success is never
    shown for data that was not kept.
    """
    current = current_session()
    try:
        await get_backend().persist(current)
    except Exception as error:  # any failure becomes its own error page
        current.failure = error
        current.cookie = CookieAction.KEEP
        current.modified = False
        context = app_ctx._get_current_object()
        return await current_app.make_response(
            await current_app.handle_user_exception(context, error))
    return response
