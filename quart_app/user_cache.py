"""A short-lived, per-process memory of who a user id is, for the per-request check.

Every logged-in request must confirm that its user still exists and that the
session version still matches. Asking the database each time costs more than
the rest of the request (a thread hop per statement with aiosqlite), so each
worker remembers an answer for ``USER_CACHE_TTL`` seconds. The worker that
changes a user forgets it at once; other workers and machines see the change
within the TTL. A TTL of 0 turns the memory off.
"""

import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .users import User

MAX_ENTRIES: Final = 10_000


class UserCache:
    """User id → (when remembered, user or None) with a time-to-live."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[int, tuple[float, User | None]] = {}

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
        """Drop what this worker knows about a user it has just changed."""
        self._entries.pop(user_id, None)
