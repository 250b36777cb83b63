"""The default backend: the whole session, signed, in the ``__Host-session`` cookie."""

import hashlib
from typing import Final, override

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

    @override
    def get_signing_serializer(self, app: Quart) -> URLSafeTimedSerializer | None:
        """Quart's serializer, built once for the app's life: the keys never change meanwhile."""
        if self._serializer is None and app.secret_key:
            self._serializer = URLSafeTimedSerializer(
                [*app.config["SECRET_KEY_FALLBACKS"], app.secret_key],
                salt=self.salt,
                serializer=self.serializer,
                signer=CachedKeyTimestampSigner,
                signer_kwargs={"key_derivation": self.key_derivation,
                               "digest_method": self.digest_method},
            )
        return self._serializer

    @override
    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
        """Open the session, treating every unverifiable cookie as no session at all."""
        signer = self.get_signing_serializer(app)
        if signer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie is None:
            return self.session_class()
        try:
            data = signer.loads(cookie, max_age=self.signature_max_age)
        except (BadData, ValueError):
            data = None
        if not isinstance(data, dict):
            discarded = self.session_class()
            discarded.modified = True
            return discarded
        return self.session_class(data)
