"""A session store inside one process: for tests and a single worker, never for scale-out.

Records vanish with the process and are invisible to other workers, so the
``memory`` backend is test-only. It keeps the same contract as the Redis
store (``tests/sessions/test_store_contract.py`` runs one suite against
both), so the app's behaviour under test is the behaviour in production.
"""

import heapq
import time
from dataclasses import dataclass
from typing import Final

from .store import SessionStoreBase

DEFAULT_MAX_RECORDS: Final = 100_000


@dataclass(slots=True)
class _Entry:
    record: str
    user_id: int | None
    expires_at: int
    kept_until: int


class MemoryStore(SessionStoreBase):
    """``SessionStore`` in a dict, judged by ``time.time()`` so tests can move the clock.

    A record is listed while ``time.time() < expires_at`` and loadable until
    ``kept_until``; once the clock reaches ``kept_until`` it is gone for
    every method. Ending notes live in a dict of their own, as long as the
    record they replace would have, and are bounded like the records.

    Bounded: at most ``max_records`` records. When a new record would exceed
    that, the expired ones are dropped first (they always are), then the
    record that expires soonest is evicted: a login is never refused, and
    the session that loses is the one with the least life left (the same
    choice as Redis's ``volatile-ttl`` policy). Eviction logs that user
    out, so size the bound well above the expected number of sessions.

    There are no locks: every method runs without an ``await`` between
    reading and writing, so coroutines on the one event loop cannot
    interleave inside a method.
    """

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        self.max_records = max_records
        self._records: dict[str, _Entry] = {}
        self._users: dict[int, set[str]] = {}
        # (kept_until, session_id), soonest first. Updates and deletions leave stale
        # entries behind (skipped when popped); the heap is rebuilt once they dominate.
        self._expiries: list[tuple[int, str]] = []
        # session_id -> (ending, kept until), oldest first.
        self._endings: dict[str, tuple[str, int]] = {}

    def __len__(self) -> int:
        """How many live records the store holds (tests: anonymous traffic stores none)."""
        self._drop_expired(time.time())
        return len(self._records)

    async def load(self, session_id: str) -> str | None:
        """The record, or None when unknown or expired; reading never creates one."""
        self._drop_expired(time.time())
        entry = self._records.get(session_id)
        return None if entry is None else entry.record

    async def write(self, session_id: str, record: str, user_id: int | None, expires_at: int,
                    kept_until: int, now: float, *, must_create: bool) -> bool:
        """Create (``must_create``) or update a live record; see ``SessionStore.save``."""
        self._drop_expired(now)
        existing = self._records.get(session_id)
        if (existing is not None) == must_create:
            return False  # an id in use for a creation, or a vanished record for an update
        if existing is None:
            if len(self._records) >= self.max_records:
                self._evict_soonest()
        elif existing.user_id != user_id:
            self._unindex(session_id, existing.user_id)
        self._records[session_id] = _Entry(record, user_id, expires_at, kept_until)
        if user_id is not None:
            self._users.setdefault(user_id, set()).add(session_id)
        heapq.heappush(self._expiries, (kept_until, session_id))
        self._compact()
        return True

    async def delete(self, session_id: str, *, ending: str | None = None) -> None:
        """Remove one record (logout, rotation), leaving ``ending`` while it would have lasted."""
        self._drop_expired(time.time())
        entry = self._remove(session_id)
        if entry is not None and ending is not None:
            self._note(session_id, ending, entry.kept_until)

    async def ending(self, session_id: str) -> str | None:
        """The note a delete left, while it lasts."""
        noted = self._endings.get(session_id)
        return noted[0] if noted is not None and time.time() < noted[1] else None

    async def user_session_ids(self, user_id: int) -> list[str]:
        """One user's live session ids, sorted, so a page can list and end them."""
        now = time.time()
        self._drop_expired(now)
        return sorted(sid for sid in self._users.get(user_id, ())
                      if self._records[sid].expires_at > now)

    async def delete_user_sessions(self, user_id: int, *, ending: str | None = None) -> int:
        """End every live session of one user (password change, "log out everywhere")."""
        now = time.time()
        self._drop_expired(now)
        ended = 0
        for session_id in self._users.pop(user_id, set()):
            entry = self._records[session_id]
            if entry.expires_at <= now:
                continue  # timed out already: kept, unindexed, to say so
            del self._records[session_id]
            ended += 1
            if ending is not None:
                self._note(session_id, ending, entry.kept_until)
        return ended

    async def ping(self) -> None:
        """Always answers: memory in this process cannot be unreachable."""

    async def open(self) -> None:
        """Nothing to connect; present so the app can treat every store alike."""

    async def close(self) -> None:
        """Nothing to release; records stay for as long as the object lives."""

    def _remove(self, session_id: str) -> _Entry | None:
        entry = self._records.pop(session_id, None)
        if entry is not None:
            self._unindex(session_id, entry.user_id)
        return entry

    def _note(self, session_id: str, ending: str, until: int) -> None:
        """Keep an ending note; past ``max_records`` notes the expired go, then the oldest."""
        self._endings[session_id] = (ending, until)
        if len(self._endings) > self.max_records:
            now = time.time()
            self._endings = {sid: noted for sid, noted in self._endings.items()
                             if noted[1] > now}
            while len(self._endings) > self.max_records:
                del self._endings[next(iter(self._endings))]

    def _unindex(self, session_id: str, user_id: int | None) -> None:
        if user_id is None or user_id not in self._users:
            return
        session_ids = self._users[user_id]
        session_ids.discard(session_id)
        if not session_ids:
            del self._users[user_id]

    def _is_current(self, kept_until: int, session_id: str) -> bool:
        entry = self._records.get(session_id)
        return entry is not None and entry.kept_until == kept_until

    def _drop_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            kept_until, session_id = heapq.heappop(self._expiries)
            if self._is_current(kept_until, session_id):
                self._remove(session_id)

    def _evict_soonest(self) -> None:
        while self._expiries:
            kept_until, session_id = heapq.heappop(self._expiries)
            if self._is_current(kept_until, session_id):
                self._remove(session_id)
                return

    def _compact(self) -> None:
        """Rebuild the heap once stale entries outnumber live ones: memory stays O(records)."""
        if len(self._expiries) > 2 * len(self._records) + 64:
            self._expiries = [(e.kept_until, sid) for sid, e in self._records.items()]
            heapq.heapify(self._expiries)
