"""A short-lived, per-process memory of who a user id is, for the per-request check.

Every logged-in request must confirm that its user still exists and that the
session version still matches. Asking the database each time costs more than
the rest of the request (a thread hop per statement with aiosqlite), so each
worker remembers an answer for ``USER_CACHE_TTL`` seconds. The worker that
changes a user forgets it at once; other workers and machines see the change
within the TTL. A TTL of 0 turns the memory off.

A miss is single-flight: when the remembered answer expires while many
requests of the same user are in flight, one database query answers them
all, instead of a stampede of identical queries every TTL.
"""

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .users import User

MAX_ENTRIES: Final = 10_000


class UserCache:
    """User id → (when remembered, user or None) with a time-to-live."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[int, tuple[float, User | None]] = {}
        self._loading: dict[int, asyncio.Future[User | None]] = {}

    async def get(self, user_id: int,
                  load: Callable[[int], Awaitable["User | None"]]) -> "User | None":
        """The remembered answer, or one shared ``load`` for every request that misses at once.

        The load runs as its own task, so a request that gives up (a client
        that disconnects) does not cancel it for the others.
        """
        found, user = self.lookup(user_id)
        if found:
            return user
        flight = self._loading.get(user_id)
        if flight is None:
            flight = asyncio.ensure_future(load(user_id))
            self._loading[user_id] = flight
            flight.add_done_callback(functools.partial(self._landed, user_id))
        return await asyncio.shield(flight)

    def _landed(self, user_id: int, flight: "asyncio.Future[User | None]") -> None:
        """Remember a load's answer, unless the user was forgotten while it ran."""
        current = self._loading.get(user_id) is flight
        if current:
            del self._loading[user_id]
        if flight.cancelled() or flight.exception() is not None:  # retrieved: no warning
            return
        if current:
            self.remember(user_id, flight.result())

    def lookup(self, user_id: int) -> tuple[bool, "User | None"]:
        """(found, user): found is False when nothing fresh is remembered."""
        entry = self._entries.get(user_id)
        if entry is None:
            return False, None
        age = time.time() - entry[0]
        if not 0 <= age < self.ttl:
            del self._entries[user_id]
            return False, None
        return True, entry[1]

    def remember(self, user_id: int, user: "User | None") -> None:
        """Keep an answer from the database; start afresh rather than grow without bound."""
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[user_id] = (time.time(), user)

    def forget(self, user_id: int) -> None:
        """Drop what this worker knows about a user it has just changed.

        A load already in flight may have read the old row: it is not remembered.
        """
        self._entries.pop(user_id, None)
        self._loading.pop(user_id, None)
