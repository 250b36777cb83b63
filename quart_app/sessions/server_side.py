"""Server-side sessions: the data in a ``SessionStore``, only an opaque id in the cookie.

The id is 256 bits from ``secrets``, sent as is: it is unguessable, so a
signature would add no protection, only cost and a tie to ``SECRET_KEY``
rotation; ids the server did not issue are never adopted, because a record
is only ever created under an id minted here (``must_create``). Records are
Quart's tagged JSON (tuples, bytes, datetimes, UUIDs and Markup round-trip),
never pickle, so a compromised store cannot become code execution.

Store I/O happens inside the request (``load`` before the views, ``persist``
from the identity verbs), where a store outage becomes a 503 page;
``save_session`` only writes the cookie.
"""

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, override

from flask.json.tag import TaggedJSONSerializer
from quart import Quart, Request
from quart.sessions import SecureCookieSession, SessionInterface
from quart.wrappers import BaseRequestWebsocket, Response
from werkzeug.wrappers import Response as WerkzeugResponse

from .policy import LAST_SEEN, USER_ID, SessionPolicy
from .store import SESSION_ID_BYTES, SESSION_ID_LENGTH, SessionStore

log = logging.getLogger(__name__)

SESSION_ID: Final = re.compile(rf"[A-Za-z0-9_-]{{{SESSION_ID_LENGTH}}}")
MAX_USER_AGENT: Final = 200
HANDLE_LENGTH: Final = 32
SERIALIZER: Final = TaggedJSONSerializer()


class ServerSideSession(SecureCookieSession):
    """The session mapping plus the id of its record and what the cookie must do."""

    def __init__(self, session_id: str | None = None) -> None:
        super().__init__()
        self.session_id = session_id
        self.loaded = session_id is None
        self.rotate_pending = False
        self.cookie_changed = False
        self.meta: dict[str, Any] = {}

    def rotate(self) -> None:
        """Forget everything; the next ``persist`` deletes the record and mints a new id."""
        self.clear()
        self.rotate_pending = True

    def forget_id(self) -> None:
        """The record is gone: this session is anonymous and the cookie must be deleted."""
        self.clear()
        self.session_id = None
        self.cookie_changed = True


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One live session as a sessions page shows it; ``handle`` names it without revealing it."""

    handle: str
    session_id: str
    data: dict[str, Any]
    meta: dict[str, Any]


def handle_of(session_id: str) -> str:
    """A public name for a session: its id is a bearer secret and never leaves the cookie."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:HANDLE_LENGTH]


class ServerSideSessionInterface(SessionInterface):
    """Quart's session hooks for a server-side store, driven by the session policy."""

    session_class = ServerSideSession

    def __init__(self, store: SessionStore, policy: SessionPolicy) -> None:
        self.store = store
        self.policy = policy

    @override
    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> ServerSideSession:
        """Read the id from the cookie; a cookie that cannot be an id is deleted unread."""
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie is None:
            return ServerSideSession()
        if SESSION_ID.fullmatch(cookie) is None:
            session = ServerSideSession()
            session.cookie_changed = True
            return session
        return ServerSideSession(cookie)

    async def load(self, session: ServerSideSession) -> None:
        """Fill the session from its record; an unknown or expired id is an anonymous visitor."""
        if session.loaded or session.session_id is None:
            return
        record = await self.store.load(session.session_id)
        session.loaded = True
        decoded = _decode(record) if record is not None else None
        if decoded is None:
            session.forget_id()
            session.modified = False
            return
        session.update(decoded["data"])
        session.meta = decoded["meta"]
        session.modified = False

    async def stored_sessions(self, user_id: int) -> list[StoredSession]:
        """One user's live sessions, read back from the store, most recently active first."""
        found = []
        for session_id in await self.store.user_session_ids(user_id):
            record = await self.store.load(session_id)
            decoded = _decode(record) if record is not None else None
            if decoded is not None:
                found.append(StoredSession(handle_of(session_id), session_id,
                                           decoded["data"], decoded["meta"]))
        return sorted(found, key=lambda s: s.data.get(LAST_SEEN, 0), reverse=True)

    async def persist(self, session: ServerSideSession, request: Request) -> None:
        """Write the session now: create it under a new id, update it, or delete it.

        Only sessions that hold a login are stored: anonymous visitors cost
        the store nothing. An update of a record revoked meanwhile fails and
        the session ends instead of coming back.
        """
        if session.rotate_pending or USER_ID not in session:
            if session.session_id is not None:
                await self.store.delete(session.session_id)
                session.session_id = None
                session.cookie_changed = True
            session.rotate_pending = False
        if USER_ID not in session:
            session.modified = False
            return
        expires_at = self.policy.expires_at(session)
        if session.session_id is None:
            await self._create(session, request, expires_at)
        elif not await self.store.save(session.session_id, self._encode(session),
                                       session[USER_ID], expires_at, must_create=False):
            log.info("session ended elsewhere while this request was in flight")
            session.forget_id()
        elif session.permanent:
            session.cookie_changed = True  # slide the cookie's Expires with the record
        session.modified = False

    async def _create(self, session: ServerSideSession, request: Request,
                      expires_at: int) -> None:
        session.meta = {
            "created": int(time.time()),
            "user_agent": request.headers.get("User-Agent", "")[:MAX_USER_AGENT],
            "address": request.remote_addr or "",
        }
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        while not await self.store.save(session_id, self._encode(session), session[USER_ID],
                                        expires_at, must_create=True):
            session_id = secrets.token_urlsafe(SESSION_ID_BYTES)  # a 2**-256 event
        session.session_id = session_id
        session.cookie_changed = True

    @override
    async def save_session(self, app: Quart, session: Any,
                           response: Response | WerkzeugResponse | None) -> None:
        """Send, slide or delete the id cookie; the record itself was written by ``persist``."""
        if response is None or not isinstance(session, ServerSideSession):
            return
        if session.accessed:
            response.vary.add("Cookie")
        if not session.cookie_changed:
            return
        name = self.get_cookie_name(app)
        attributes: dict[str, Any] = {
            "domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app), "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
        }
        if session.session_id is None:
            response.delete_cookie(name, **attributes)
        else:
            response.set_cookie(name, session.session_id,
                                expires=self.get_expiration_time(app, session), **attributes)

    def _encode(self, session: ServerSideSession) -> str:
        return SERIALIZER.dumps({"data": dict(session), "meta": session.meta})


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
