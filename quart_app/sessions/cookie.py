"""The default backend: the whole session, signed, in the ``__Host-session`` cookie."""

import hashlib
from typing import Any, Final, override

from itsdangerous import BadData, URLSafeTimedSerializer
from quart import Quart
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket

from ..signing import CachedKeyTimestampSigner

SALT: Final = "quart_app.session"


class SignedCookieSessionInterface(SecureCookieSessionInterface):
    """Quart's signed cookie with SHA-256 and a forgiving reader.

    Any cookie that does not verify (tampered, truncated, garbage, signed by a
    key that is neither current nor a fallback, or too old) opens as an empty
    session that is marked modified, so the visitor is anonymous and the bad
    cookie is deleted in the response rather than sent again forever.
    """

    digest_method = staticmethod(hashlib.sha256)
    salt = SALT

    def __init__(self, signature_max_age: int) -> None:
        self.signature_max_age = signature_max_age
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
    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
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
            return self.session_class()
        data = self._verified(signer, cookie)
        if data:  # an empty one is never written (Quart deletes an emptied session's cookie)
            return self.session_class(data)
        data = self._verified(self._fallback_serializer, cookie)
        opened = self.session_class(data or {})
        opened.modified = True
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
