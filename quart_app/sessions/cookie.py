"""The default backend: the whole session, signed, in the ``__Host-session`` cookie."""

import hashlib
from typing import Any, Final, override

from itsdangerous import BadData, URLSafeTimedSerializer
from quart import Quart, current_app, request
from quart.sessions import SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket, Response
from werkzeug.http import dump_cookie
from werkzeug.wrappers import Response as WerkzeugResponse

from ..signing import CachedKeyTimestampSigner
from .base import AppSession, EndedSession, SessionTooLargeError, StoredSession, admit
from .policy import CSRF_TOKEN, Ending, SessionPolicy

SALT: Final = "quart_app.session"
# Werkzeug's own warning threshold for one Set-Cookie header; browsers keep about 4096 bytes.
MAX_COOKIE_BYTES: Final = 4093


class SignedCookieSessionInterface(SecureCookieSessionInterface):
    """Quart's signed cookie with SHA-256, a forgiving reader and the session policy.

    Any cookie that does not verify (tampered, truncated, garbage, signed by a
    key that is neither current nor a fallback, or too old) opens as an empty
    session that is marked modified, so the visitor is anonymous and the bad
    cookie is deleted in the response rather than sent again forever. A
    session the policy refuses (expired, malformed) opens empty the same way.
    """

    digest_method = staticmethod(hashlib.sha256)
    salt = SALT
    session_class = AppSession

    def __init__(self, policy: SessionPolicy) -> None:
        self.policy = policy
        self.signature_max_age = policy.signature_max_age()
        self._serializer: URLSafeTimedSerializer | None = None
        self._fallback_serializer: URLSafeTimedSerializer | None = None

    def _build(self, keys: list[bytes]) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            keys,
            salt=self.salt,
            serializer=self.serializer,
            signer=CachedKeyTimestampSigner,
            signer_kwargs={"key_derivation": self.key_derivation,
                           "digest_method": self.digest_method},
        )

    @override
    def get_signing_serializer(self, app: Quart) -> URLSafeTimedSerializer | None:
        """Quart's serializer on the current key only, built once: every cookie is signed by it.

        Fallback keys get a serializer of their own that only ever reads, so
        the reader knows when a cookie still carries a retired key.
        """
        if self._serializer is None and app.secret_key:
            self._serializer = self._build([app.config["SECRET_KEY"]])
            fallbacks = app.config["SECRET_KEY_FALLBACKS"]
            self._fallback_serializer = self._build(fallbacks) if fallbacks else None
        return self._serializer

    @override
    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> AppSession | None:
        """Open the session, treating every unverifiable cookie as no session at all.

        A cookie signed by a fallback key is accepted and marked modified, so
        the response re-signs it with the current key (key rotation): once the
        fallback is removed, only cookies not seen since then stop working.
        """
        signer = self.get_signing_serializer(app)
        if signer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie is None:
            return AppSession()
        data = self._verified(signer, cookie)
        if data:  # an empty one is never written (Quart deletes an emptied session's cookie)
            opened = AppSession(data)
        else:
            opened = AppSession(self._verified(self._fallback_serializer, cookie) or {})
            opened.modified = True
        admit(self.policy, opened)
        return opened

    def _verified(self, signer: URLSafeTimedSerializer | None,
                  cookie: str) -> dict[str, Any] | None:
        if signer is None:
            return None
        try:
            data = signer.loads(cookie, max_age=self.signature_max_age)
        except (BadData, ValueError):
            return None
        return data if isinstance(data, dict) else None

    async def persist(self, session: AppSession) -> None:
        """Check now what the response will write, so an oversized session is a 500 page."""
        self._prepare(current_app._get_current_object(), session)

    def _prepare(self, app: Quart, session: AppSession) -> None:
        """Date or empty the session, then refuse a cookie the browser would drop."""
        self.policy.stamp(session)
        if not session or not self.should_set_cookie(app, session):
            return
        serializer = self.get_signing_serializer(app)
        assert serializer is not None
        header = dump_cookie(
            self.get_cookie_name(app), serializer.dumps(dict(session)),
            expires=self.get_expiration_time(app, session), path=self.get_cookie_path(app),
            domain=self.get_cookie_domain(app), secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app),
            partitioned=self.get_cookie_partitioned(app), max_size=0,
        )
        if len(header) > MAX_COOKIE_BYTES:
            raise SessionTooLargeError(
                f"the session cookie would be {len(header)} bytes, over the browsers' "
                f"{MAX_COOKIE_BYTES}; keep less in the session or use SESSION_BACKEND=redis")

    @override
    async def save_session(self, app: Quart, session: Any,
                           response: Response | WerkzeugResponse | None) -> None:
        """Quart's cookie writer, after the policy's dates and the size check."""
        if isinstance(session, AppSession):
            if session.failure is not None:
                return
            self._prepare(app, session)
            if not session and self.get_cookie_name(app) not in request.cookies:
                session.modified = False  # nothing to delete: send no Set-Cookie at all
        await super().save_session(app, session, response)

    def secret(self, session: AppSession) -> str | None:
        """A login's CSRF token: made at login, known only to this browser and the server."""
        token = session.get(CSRF_TOKEN)
        return token if isinstance(token, str) else None

    def handle(self, session: AppSession) -> str | None:
        """Signed cookies are not listed anywhere, so they have no public name."""
        return None

    async def user_sessions(self, user_id: int) -> list[StoredSession] | None:
        """None: copies of a signed cookie are kept by browsers only."""
        return None

    async def end_user_session(self, user_id: int, handle: str,
                               ending: Ending) -> EndedSession | None:
        """None: no cookie but this one can be reached (a version bump ends all)."""
        return None

    async def end_user_sessions(self, user_id: int, ending: Ending, *,
                                keep: str | None = None) -> int:
        """0: other browsers' cookies end through the user's session version, bumped by
        identity, which records the ending with it."""
        return 0

    async def ping(self) -> None:
        """Always answers: nothing to reach."""

    async def open(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to release."""
