"""What every session backend shares: the session object, the cookie's fate, the verbs.

Django's signed-cookie backend implements ``cycle_key`` like every other
backend; here too the cookie backend and the server-side one answer the same
``SessionBackend`` verbs, so no caller ever asks which backend it has. What
happens to the cookie at the end of a request is one explicit state,
``CookieAction`` (Quart-Auth's ``Action``), not a set of flags.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple, Protocol

from quart.sessions import SecureCookieSession

from .policy import RESERVED, TIMED_OUT, USER_ID, Ending, SessionPolicy, Verdict, visitor_data


class CookieAction(Enum):
    """What the response does with the session cookie."""

    KEEP = "keep"  # send nothing, unless a change or SESSION_REFRESH_EACH_REQUEST sets it
    SET = "set"
    DELETE = "delete"


class SessionTooLargeError(Exception):
    """A view wrote more than a cookie or a record may hold: a logged 500, never a lost write."""


class SessionThrottledError(Exception):
    """One client address started more new sessions than the limit allows (a 429 page)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many new sessions from one address; retry after {retry_after} s")
        self.retry_after = retry_after


class AppSession(SecureCookieSession):
    """Flask's session mapping plus what the server decided about it when it was opened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: Verdict | None = None
        self.before_refusal: dict[str, Any] = {}
        # Why the login this browser brought has ended, where the backend could tell.
        self.ended: Ending | None = None
        # Set when the store failed or a write was refused: nothing more is written this request.
        self.failure: Exception | None = None
        self.cookie = CookieAction.KEEP
        self.rotate_pending = False

    def cycle(self, *, keep_data: bool) -> None:
        """Drop the login and the dates, and give the session a new identity at the next write.

        ``keep_data`` keeps the keys the views wrote (a cart, a theme survive
        login); without it the session starts empty (logout, another user).
        """
        kept = visitor_data(self) if keep_data else {}
        self.clear()
        self.update(kept)
        self.rotate_pending = True


def admit(policy: SessionPolicy, session: AppSession) -> None:
    """Apply the lifetimes at open: a refused session opens empty and its cookie goes.

    Every backend calls this once the data is read, so a view, a test's
    ``session_transaction()`` and the identity check all see the same session.
    """
    verdict = policy.check(session)
    if verdict in (Verdict.VALID, Verdict.ANONYMOUS):
        policy.touch(session)
        return
    session.refused = verdict
    session.before_refusal = dict(session)
    if USER_ID in session:
        session.ended = TIMED_OUT.get(verdict)
    session.clear()
    session.rotate_pending = True
    session.cookie = CookieAction.DELETE


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One live session as the sessions page and the CLI show it, never its id."""

    handle: str
    started: int
    last_seen: int
    expires_at: int
    remembered: bool
    user_agent: str
    address: str


class EndedSession(NamedTuple):
    """A session just ended by its handle: its secret (for the audit log's keyed reference,
    never shown) and the user agent it was started from (to say which device it was)."""

    secret: str
    user_agent: str


class SessionBackend(Protocol):
    """The verbs every backend answers; ``None`` or 0 where a backend keeps nothing."""

    async def persist(self, session: AppSession) -> None:
        """Write the session now, so a failure is an error page and not a lost write."""
        ...

    def secret(self, session: AppSession) -> str | None:
        """What only this session knows, for the audit log's keyed hash; never logged as is."""
        ...

    def handle(self, session: AppSession) -> str | None:
        """The public name of this session on the sessions page, where sessions are listed."""
        ...

    async def user_sessions(self, user_id: int) -> list[StoredSession] | None:
        """A user's live sessions, most recently active first; None where none are kept."""
        ...

    async def end_user_session(self, user_id: int, handle: str,
                               ending: Ending) -> EndedSession | None:
        """End one session of a user by its handle, its device to be told ``ending``; what
        it was, or None if not theirs."""
        ...

    async def end_user_sessions(self, user_id: int, ending: Ending, *,
                                keep: str | None = None) -> int:
        """End a user's kept sessions but the one named ``keep``, their devices to be told
        ``ending``; how many ended."""
        ...

    async def ping(self) -> None:
        """Raise the backend's unavailable error unless it answers (health checks)."""
        ...

    async def open(self) -> None:
        """Connect at start-up, inside the serving event loop."""
        ...

    async def close(self) -> None:
        """Release connections at shutdown."""
        ...


__all__ = ["RESERVED", "AppSession", "CookieAction", "SessionBackend", "SessionThrottledError",
           "SessionTooLargeError", "StoredSession", "admit"]
