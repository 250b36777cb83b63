"""itsdangerous signers that derive each key once, not on every signature made or checked.

A signer turns the secret key and its salt into the signing key with one HMAC
each time it signs or verifies. The keys never change while the app runs, so
the derived key is kept: the same signatures, one HMAC fewer per request.
"""

from itsdangerous import Signer, TimestampSigner, want_bytes


class CachedKeySigner(Signer):
    """``Signer`` with its derived keys remembered per secret key."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The same key itsdangerous derives, computed once per secret key."""
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        cache: dict[bytes, bytes] = self.__dict__.setdefault("_derived_keys", {})
        derived = cache.get(secret)
        if derived is None:
            derived = cache[secret] = super().derive_key(secret)
        return derived


class CachedKeyTimestampSigner(CachedKeySigner, TimestampSigner):
    """``TimestampSigner`` (what Quart's session cookie uses) with cached key derivation."""
