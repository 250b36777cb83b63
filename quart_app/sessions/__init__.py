"""Session backends, the one table that names them, and the rules every backend enforces.

``cookie`` keeps the whole (signed) session in the browser; ``redis`` keeps it
in Redis with only an id in the cookie; ``memory`` does the same inside one
process, for tests. ``rotate``, ``persist`` and ``load_session`` are what the
identity verbs call, the same for every backend.
"""

from collections.abc import Callable, Mapping
from typing import Final

from quart import Quart, current_app, request, session
from quart.sessions import SessionInterface, SessionMixin

from .cookie import SignedCookieSessionInterface
from .memory import MemoryStore
from .policy import CSRF_TOKEN, SessionPolicy, Verdict
from .redis_store import RedisStore
from .server_side import ServerSideSession, ServerSideSessionInterface, StoredSession, handle_of
from .store import SessionStore, SessionStoreUnavailableError

__all__ = [
    "BACKENDS",
    "SessionPolicy",
    "SessionStoreUnavailableError",
    "StoredSession",
    "Verdict",
    "current_handle",
    "current_secret",
    "get_policy",
    "get_store",
    "init_app",
    "persist",
    "rotate",
    "stored_sessions",
]

EXTENSION_KEY: Final = "quart_app.session_policy"

type Backend = Callable[[Quart, SessionPolicy], SessionInterface]


def _cookie(app: Quart, policy: SessionPolicy) -> SessionInterface:
    return SignedCookieSessionInterface(policy.signature_max_age())


def _redis(app: Quart, policy: SessionPolicy) -> SessionInterface:
    store = RedisStore(app.config["REDIS_URL"], app.config["SESSION_KEY_PREFIX"])
    return ServerSideSessionInterface(store, policy)


def _memory(app: Quart, policy: SessionPolicy) -> SessionInterface:
    return ServerSideSessionInterface(MemoryStore(), policy)


# The one table of backends: ``init_app`` builds from it, config validation checks against it.
BACKENDS: Final[Mapping[str, Backend]] = {"cookie": _cookie, "redis": _redis, "memory": _memory}
TEST_ONLY_BACKENDS: Final = frozenset({"memory"})


def init_app(app: Quart) -> None:
    """Install the backend named by ``SESSION_BACKEND`` and tie its store to serving."""
    policy = SessionPolicy(
        idle_timeout=app.config["SESSION_IDLE_TIMEOUT"],
        absolute_timeout=app.config["SESSION_ABSOLUTE_TIMEOUT"],
        permanent_lifetime=app.config["PERMANENT_SESSION_LIFETIME"],
    )
    interface = BACKENDS[app.config["SESSION_BACKEND"]](app, policy)
    app.session_interface = interface  # type: ignore[assignment]  # Quart types its default
    app.extensions[EXTENSION_KEY] = policy
    if isinstance(interface, ServerSideSessionInterface):
        store = interface.store
        app.before_serving(store.open)
        app.after_serving(store.close)
        app.before_request(load_session)


def get_policy() -> SessionPolicy:
    """The current app's session limits."""
    policy = current_app.extensions[EXTENSION_KEY]
    assert isinstance(policy, SessionPolicy)
    return policy


def get_store() -> SessionStore | None:
    """The server-side store, or None for the cookie backend (nothing kept on the server)."""
    interface = current_app.session_interface
    return interface.store if isinstance(interface, ServerSideSessionInterface) else None


async def load_session() -> None:
    """Read this request's record before anything looks at the session (CSRF, the user)."""
    interface = current_app.session_interface
    if isinstance(interface, ServerSideSessionInterface) and isinstance(
        session, ServerSideSession
    ):
        await interface.load(session)


def rotate(session: SessionMixin) -> None:
    """Discard the session and, for a server-side store, its id (login: no fixation)."""
    if isinstance(session, ServerSideSession):
        session.rotate()
    else:
        session.clear()


async def persist(session: SessionMixin) -> None:
    """Write a server-side session now, so an outage is a 503 and not a lost write.

    The cookie backend writes at the response and has nothing to do here.
    """
    interface = current_app.session_interface
    if isinstance(interface, ServerSideSessionInterface) and isinstance(
        session, ServerSideSession
    ):
        await interface.persist(session, request)



async def stored_sessions(user_id: int) -> list[StoredSession] | None:
    """A user's live sessions, or None where none are kept (the cookie backend)."""
    interface = current_app.session_interface
    if not isinstance(interface, ServerSideSessionInterface):
        return None
    return await interface.stored_sessions(user_id)


def current_handle() -> str | None:
    """The public name of this request's session, where it has a stored id."""
    session_id = session.session_id if isinstance(session, ServerSideSession) else None
    return handle_of(session_id) if session_id is not None else None


def current_secret() -> str | None:
    """What only this login knows: its stored id, or in a cookie its login's CSRF token.

    The audit log names a session by a keyed hash of this, never by the value.
    """
    if isinstance(session, ServerSideSession):
        return session.session_id
    token = session.get(CSRF_TOKEN)
    return token if isinstance(token, str) else None
