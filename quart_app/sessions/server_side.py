"""Server-side sessions: the data in a ``SessionStore``, only an opaque id in the cookie.

The id is 256 bits from ``secrets``, sent as is: it is unguessable, so a
signature would add no protection, only cost and a tie to ``SECRET_KEY``
rotation; ids the server did not issue are never adopted, because a record
is only ever created under an id minted here (``must_create``). Records are
Quart's tagged JSON (tuples, bytes, datetimes, UUIDs and Markup round-trip),
never pickle, so a compromised store cannot become code execution.

A record exists only once a view (or a login) has written something: a page
view, a crawler or the login form create none. ``open_session`` reads the
record, so views, ``test_client.session_transaction()`` and the identity
check all see it; a store outage there is kept and raised by a
``before_request`` hook, where it becomes a 503 page. ``persist`` writes at
the end of the request (``sessions.write_session``), before the response
leaves, so a failed write is a 503 page, never a success whose data was
dropped.
"""

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, override

from flask.json.tag import TaggedJSONSerializer
from quart import Quart, request
from quart.sessions import SessionInterface
from quart.wrappers import BaseRequestWebsocket, Response
from werkzeug.wrappers import Response as WerkzeugResponse

from .base import (
    AppSession,
    CookieAction,
    EndedSession,
    SessionTooLargeError,
    StoredSession,
    admit,
)
from .policy import LAST_SEEN, PERMANENT, STARTED, USER_ID, Ending, SessionPolicy
from .store import SESSION_ID_BYTES, SESSION_ID_LENGTH, SessionStore, SessionStoreUnavailableError

log = logging.getLogger(__name__)

SESSION_ID: Final = re.compile(rf"[A-Za-z0-9_-]{{{SESSION_ID_LENGTH}}}")
MAX_USER_AGENT: Final = 200
HANDLE_LENGTH: Final = 32
SERIALIZER: Final = TaggedJSONSerializer()

type Admission = Callable[[str | None], Awaitable[None]]


class ServerSideSession(AppSession):
    """The session mapping plus the id of its record and what the record says about it."""

    def __init__(self, session_id: str | None = None) -> None:
        super().__init__()
        self.session_id = session_id
        self.meta: dict[str, Any] = {}
        # This request deleted the record it came with: a record made now replaces it.
        self.replaced_record = False

    def forget_id(self) -> None:
        """The record is gone: this session is anonymous and the cookie must be deleted."""
        self.clear()
        self.session_id = None
        self.cookie = CookieAction.DELETE


def handle_of(session_id: str) -> str:
    """A public name for a session: its id is a bearer secret and never leaves the cookie."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:HANDLE_LENGTH]


class ServerSideSessionInterface(SessionInterface):
    """Quart's session hooks for a server-side store, driven by the session policy.

    ``max_bytes`` bounds one record; ``max_per_user`` bounds one user's
    logins (past it, the least recently active one ends at the next login);
    ``admit_new`` is asked before a record without a login is created, so
    one address cannot fill the store with anonymous writes. A login's
    record is kept the policy's ``end_notice`` past its expiry (unlisted,
    refused when read), so its device is told it timed out; a login ended
    by a person or a password change leaves a note of why under its id.
    """

    session_class = ServerSideSession

    def __init__(self, store: SessionStore, policy: SessionPolicy, *, max_bytes: int,
                 max_per_user: int, admit_new: Admission) -> None:
        self.store = store
        self.policy = policy
        self.max_bytes = max_bytes
        self.max_per_user = max_per_user
        self.admit_new = admit_new

    @override
    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> ServerSideSession:
        """Read the id from the cookie and its record; a cookie that cannot be an id is deleted."""
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie is None:
            return ServerSideSession()
        if SESSION_ID.fullmatch(cookie) is None:
            session = ServerSideSession()
            session.cookie = CookieAction.DELETE
            return session
        session = ServerSideSession(cookie)
        try:
            record = await self.store.load(cookie)
        except SessionStoreUnavailableError as error:
            session.failure = error
            return session
        decoded = _decode(record) if record is not None else None
        if decoded is None:
            session.forget_id()
            session.modified = False
            await self._read_ending(session, cookie)
            return session
        session.update(decoded["data"])
        session.meta = decoded["meta"]
        session.modified = False
        admit(self.policy, session)  # may slide the activity date: then modified again
        return session

    async def _read_ending(self, session: ServerSideSession, session_id: str) -> None:
        """An id without a record: why its login ended, if a note says (then the note stands
        for the record, so a new one made to say so is no new visitor's)."""
        try:
            noted = await self.store.ending(session_id)
        except SessionStoreUnavailableError as error:
            session.failure = error
            return
        session.ended = Ending.named(noted)
        session.replaced_record = session.ended is not None

    async def persist(self, session: AppSession) -> None:
        """Write the session now: create it under a new id, update it, or delete it.

        An update of a logged-in record revoked meanwhile fails and the
        session ends instead of coming back; an anonymous record that expired
        meanwhile is created anew, so a visitor's write is never lost.
        """
        assert isinstance(session, ServerSideSession)
        if session.failure is not None:
            return
        self.policy.stamp(session)
        if (session.rotate_pending or not session) and session.session_id is not None:
            session.replaced_record = True
            await self.store.delete(session.session_id)
            session.session_id = None
            session.cookie = CookieAction.DELETE
        session.rotate_pending = False
        if not session or not (session.modified or session.session_id is None):
            session.modified = False
            return
        user_id = session.get(USER_ID)
        expires_at = self.policy.expires_at(session)
        if session.session_id is None:
            await self._create(session, expires_at)
        elif await self.store.save(session.session_id, self._record(session), user_id,
                                   expires_at, must_create=False,
                                   kept_until=self.policy.kept_until(session)):
            session.cookie = CookieAction.SET
        elif user_id is not None:
            log.info("session ended elsewhere while this request was in flight")
            session.forget_id()
        else:  # a visitor's record expired meanwhile: kept anew, as the record it replaces
            session.session_id = None
            session.replaced_record = True
            await self._create(session, expires_at)
        session.modified = False

    async def _create(self, session: ServerSideSession, expires_at: int) -> None:
        """Store a session under a new id; an anonymous one that replaces no record is counted.

        A logout's flashed message or a rotated visitor's data replaces the
        record it came from, so it costs the store nothing new and is never
        refused by the per-address limit.
        """
        session.meta = {
            "created": int(time.time()),
            "user_agent": request.headers.get("User-Agent", "")[:MAX_USER_AGENT],
            "address": request.remote_addr or "",
        }
        record = self._record(session)
        user_id = session.get(USER_ID)
        if user_id is not None:
            await self._make_room(user_id)
        elif not session.replaced_record:
            await self.admit_new(request.remote_addr)
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        kept_until = self.policy.kept_until(session)
        while not await self.store.save(session_id, record, user_id, expires_at,
                                        must_create=True, kept_until=kept_until):
            session_id = secrets.token_urlsafe(SESSION_ID_BYTES)  # a 2**-256 event
        session.session_id = session_id
        session.cookie = CookieAction.SET

    async def _make_room(self, user_id: int) -> None:
        """End the least recently active logins past ``max_per_user - 1``, for a new one.

        Only a user at the bound pays for reading their records; any other
        login costs one look at the index.
        """
        session_ids = await self.store.user_session_ids(user_id)
        if len(session_ids) < self.max_per_user:
            return
        stored = await self._stored(user_id, session_ids)
        for session_id, _ in stored[self.max_per_user - 1:]:
            await self.store.delete(session_id, ending=Ending.TOO_MANY)

    async def _stored(self, user_id: int,
                      session_ids: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """A user's live records (of ``session_ids`` when already read), most recent first."""
        found = []
        if session_ids is None:
            session_ids = await self.store.user_session_ids(user_id)
        for session_id in session_ids:
            record = await self.store.load(session_id)
            decoded = _decode(record) if record is not None else None
            if decoded is not None:
                found.append((session_id, decoded))
        return sorted(found, key=lambda item: item[1]["data"].get(LAST_SEEN, 0), reverse=True)

    async def user_sessions(self, user_id: int) -> list[StoredSession] | None:
        """One user's live sessions, read back from the store, most recently active first."""
        return [self._describe(session_id, decoded)
                for session_id, decoded in await self._stored(user_id)]

    def _describe(self, session_id: str, decoded: dict[str, Any]) -> StoredSession:
        data, meta = decoded["data"], decoded["meta"]
        return StoredSession(
            handle=handle_of(session_id), started=int(data.get(STARTED, 0)),
            last_seen=int(data.get(LAST_SEEN, 0)), expires_at=self.policy.expires_at(data),
            remembered=bool(data.get(PERMANENT, False)),
            user_agent=str(meta.get("user_agent", "")), address=str(meta.get("address", "")),
        )

    async def end_user_session(self, user_id: int, handle: str,
                               ending: Ending) -> EndedSession | None:
        """Delete the one live record of this user whose handle matches, leaving ``ending``
        for its device; None if there is none.

        Only that record is read (for its device), not the user's others.
        """
        for session_id in await self.store.user_session_ids(user_id):
            if handle_of(session_id) == handle:
                found = await self._stored(user_id, [session_id])
                await self.store.delete(session_id, ending=ending)
                if not found:
                    return None  # it expired a moment ago
                return EndedSession(session_id, str(found[0][1]["meta"].get("user_agent", "")))
        return None

    async def end_user_sessions(self, user_id: int, ending: Ending, *,
                                keep: str | None = None) -> int:
        """Delete every live record of the user but ``keep`` (this session's own id), each
        leaving ``ending`` for its device."""
        if keep is None:
            return await self.store.delete_user_sessions(user_id, ending=ending)
        others = [sid for sid in await self.store.user_session_ids(user_id) if sid != keep]
        for session_id in others:
            await self.store.delete(session_id, ending=ending)
        return len(others)

    def secret(self, session: AppSession) -> str | None:
        """The stored id: a bearer secret that only this browser holds."""
        return session.session_id if isinstance(session, ServerSideSession) else None

    def handle(self, session: AppSession) -> str | None:
        """The public name of this session's record, if it has one."""
        session_id = self.secret(session)
        return handle_of(session_id) if session_id is not None else None

    async def ping(self) -> None:
        """Raise ``SessionStoreUnavailableError`` unless the store answers."""
        await self.store.ping()

    async def open(self) -> None:
        """Connect the store inside the serving loop."""
        await self.store.open()

    async def close(self) -> None:
        """Close the store's connections."""
        await self.store.close()

    @override
    async def save_session(self, app: Quart, session: Any,
                           response: Response | WerkzeugResponse | None) -> None:
        """Send, slide or delete the id cookie, after writing whatever is still unwritten.

        A hook after the view normally wrote the record already; a change made
        later (another ``after_request`` hook) is written here rather than lost.
        """
        if response is None or not isinstance(session, ServerSideSession):
            return
        if session.modified or session.rotate_pending:
            await self.persist(session)
        if session.accessed:
            response.vary.add("Cookie")
        attributes: dict[str, Any] = {
            "domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app), "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
            "partitioned": self.get_cookie_partitioned(app),
        }
        name = self.get_cookie_name(app)
        if session.session_id is None:
            if session.cookie is CookieAction.DELETE:
                response.delete_cookie(name, **attributes)
                response.vary.add("Cookie")
            return
        if session.cookie is CookieAction.SET or (
                session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            response.set_cookie(name, session.session_id,
                                expires=self.get_expiration_time(app, session), **attributes)

    def _record(self, session: ServerSideSession) -> str:
        """The record as stored, refused past ``max_bytes`` (its metadata counts too)."""
        record = SERIALIZER.dumps({"data": dict(session), "meta": session.meta})
        size = len(record.encode())
        if size > self.max_bytes:
            raise SessionTooLargeError(
                f"the session record would be {size} bytes, over "
                f"SESSION_MAX_BYTES ({self.max_bytes}); keep less in the session")
        return record


def _decode(record: str) -> dict[str, Any] | None:
    """A stored record, or None if it is not one of ours (never a crash on data)."""
    try:
        decoded = SERIALIZER.loads(record)
    except (ValueError, TypeError, KeyError):
        return None
    if (not isinstance(decoded, dict) or not isinstance(decoded.get("data"), dict)
            or not isinstance(decoded.get("meta"), dict)):
        return None
    return decoded
