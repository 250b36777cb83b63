"""Password policy and argon2id hashing that never blocks the event loop."""

import asyncio
import os
import secrets
import unicodedata
from typing import Final

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 128


def normalise(password: str) -> str:
    """NFKC-normalise so the same password typed on another keyboard still matches (NIST)."""
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str) -> str | None:
    """Say what is wrong with a new password, or None; ASVS 2.1: 12 to 128 characters."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters."
    if any(unicodedata.category(char) == "Cc" for char in password):
        return "Password must not contain control characters."
    return None


class PasswordHasher:
    """argon2id (RFC 9106 low-memory profile: t=3, 64 MiB, p=4, above OWASP's minimum).

    Hashing takes tens of milliseconds of CPU, so every call runs in a worker
    thread, and a semaphore sized to the cores keeps a burst of logins from
    queueing more hashes than the machine can compute at once.
    """

    def __init__(self, concurrency: int | None = None, argon2: Argon2Hasher | None = None) -> None:
        self._argon2 = argon2 or Argon2Hasher()
        self._slots = asyncio.Semaphore(concurrency or os.cpu_count() or 1)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Hash a new password off the event loop."""
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, normalise(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """Check a password off the event loop; any malformed hash is simply a mismatch."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, normalise(password))

    async def warm_up(self) -> None:
        """Make the dummy hash at start-up so even the first unknown user costs one verify."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))

    async def verify_dummy(self, password: str) -> None:
        """Spend the same time as a real check, so unknown users cannot be told apart."""
        await self.warm_up()
        assert self._dummy_hash is not None
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether a stored hash uses weaker parameters than the current ones."""
        return self._argon2.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
