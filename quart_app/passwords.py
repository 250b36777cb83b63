"""Password policy and argon2id hashing that never blocks the event loop or the machine.

A hash costs tens of milliseconds of CPU and 64 MiB. Left unbounded, a login
storm queues hashes for tens of seconds and starves every page of CPU. So
hashing runs in a small pool of threads per worker (``PASSWORD_HASH_CONCURRENCY``,
1 by default: with one worker per core, the machine never runs more hashes
than it has cores) at a lower OS priority, so the event loops serving pages
always win the CPU; at most ``PASSWORD_HASH_QUEUE`` requests wait for a
thread, none longer than ``MAX_WAIT`` seconds, and anything past that is
refused at once with ``HashingBusyError`` (a 503 page with ``Retry-After``).
"""

import asyncio
import contextlib
import os
import secrets
import threading
import unicodedata
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from argon2 import Parameters, profiles
from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 128
# RFC 9106's second recommended option: argon2id, t=3, 64 MiB, p=4 (OWASP asks >= 19 MiB, t=2).
PRODUCTION: Final = profiles.RFC_9106_LOW_MEMORY
MAX_WAIT: Final = 3.0
# Hashing threads run this much nicer than the event loop (Linux: nice is per thread,
# and argon2's own lane threads inherit it).
NICENESS: Final = 10


class HashingBusyError(Exception):
    """More logins are waiting for a hash than this worker will queue: try again shortly."""


def normalise(password: str) -> str:
    """NFKC-normalise so the same password typed on another keyboard still matches (NIST)."""
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str) -> str | None:
    """Say what is wrong with a new password, or None; ASVS 6.2.1, 6.2.9: 12 to 128 characters."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters."
    if any(unicodedata.category(char) == "Cc" for char in password):
        return "Password must not contain control characters."
    return None


def _lower_priority() -> None:
    """Make the calling (hashing) thread yield the CPU to the event loop."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS)


class PasswordHasher:
    """argon2id in a bounded, low-priority thread pool with a bounded queue in front."""

    def __init__(self, parameters: Parameters = PRODUCTION, *, concurrency: int = 1,
                 max_waiting: int = 8, max_wait: float = MAX_WAIT) -> None:
        self.parameters = parameters
        self._argon2 = Argon2Hasher.from_parameters(parameters)
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._max_waiting = max_waiting
        self._max_wait = max_wait
        self._waiting = 0
        self.dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Hash a new password off the event loop."""
        return await self.offload(self._argon2.hash, normalise(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """Check a password off the event loop; any malformed hash is simply a mismatch."""
        return await self.offload(self._verify, password_hash, normalise(password))

    async def warm_up(self) -> None:
        """Make the dummy hash at start-up so even the first unknown user costs one verify."""
        if self.dummy_hash is None:
            self.dummy_hash = await self.hash(secrets.token_urlsafe(16))

    async def verify_dummy(self, password: str) -> None:
        """Spend the same time as a real check, so unknown users cannot be told apart."""
        await self.warm_up()
        assert self.dummy_hash is not None
        await self.verify(self.dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether a stored hash uses weaker parameters than the current ones."""
        return self._argon2.check_needs_rehash(password_hash)

    def close(self) -> None:
        """Let the threads go at shutdown; a hash still running finishes on its own."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def offload[T](self, work: Callable[..., T], *args: object) -> T:
        """Run one CPU-heavy call in the pool, or raise ``HashingBusyError`` past the bounds."""
        async with self._slot():
            future = asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
            return await asyncio.shield(future)

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of the pool's threads, waiting in a bounded queue for a bounded time."""
        if self._waiting >= self._max_waiting and self._slots.locked():
            raise HashingBusyError
        self._waiting += 1
        try:
            async with asyncio.timeout(self._max_wait):
                await self._slots.acquire()
        except TimeoutError:
            raise HashingBusyError from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
