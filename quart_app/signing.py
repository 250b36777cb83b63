"""itsdangerous signers that derive each key once, not on every signature made or checked.

A signer turns the secret key and its salt into the signing key with one HMAC
each time it signs or verifies, and itsdangerous makes a new signer for every
``dumps`` and ``loads``. The keys never change while the app runs, so the
derived keys are kept for the process: the same signatures, one HMAC fewer
per request.
"""

from collections.abc import Callable
from typing import Any, Final

from itsdangerous import Signer, TimestampSigner, want_bytes

# (secret key, salt, derivation, digest) → derived key; a handful of entries per app.
_DERIVED: Final[dict[tuple[bytes, bytes, str, Callable[..., Any]], bytes]] = {}
MAX_DERIVED: Final = 64  # far more than any app's keys and fallbacks; starts afresh past it


class CachedKeySigner(Signer):
    """``Signer`` whose derived keys are computed once per process."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The same key itsdangerous derives, remembered."""
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        cache_key = (secret, self.salt, self.key_derivation, self.digest_method)
        derived = _DERIVED.get(cache_key)
        if derived is None:
            if len(_DERIVED) >= MAX_DERIVED:
                _DERIVED.clear()
            derived = _DERIVED[cache_key] = super().derive_key(secret)
        return derived


class CachedKeyTimestampSigner(CachedKeySigner, TimestampSigner):
    """``TimestampSigner`` (what Quart's session cookie uses) with cached key derivation."""
