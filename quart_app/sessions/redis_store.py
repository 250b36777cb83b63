"""The production session store: Redis, shared by every worker and every machine.

Keys, under the configured prefix:

- ``{prefix}s:{session_id}``: the record (a string), expiring at the session's
  absolute ``kept_until`` (``SET ... EXAT``: its ``expires_at``, or later for
  a login, so its device can be told it timed out), so Redis itself forgets
  it. Anonymous records (a visitor's data without a login) are in no index.
- ``{prefix}u:{user_id}``: a sorted set of that user's session ids scored by
  ``expires_at``; the set itself expires with its latest member.
- ``{prefix}ended:{session_id}``: why a deleted login ended (revoked, password
  changed, …), a short string living as long as the record would have.

Every write that touches both is one Lua script, so no crash or concurrent
request can leave a record without its index entry. Index entries of
records deleted one by one (logout, rotation) are cleaned lazily by the next
``save`` or ``user_session_ids`` of that user.

Redis Cluster is out of scope: the scripts reach record keys they do not
declare, and a user's keys are not co-located in one hash slot.
"""

import time
from typing import ClassVar, Final

from ..redis_client import OPERATION_TIMEOUT, RedisBacked
from .store import SessionStoreBase, SessionStoreUnavailableError

__all__ = ["OPERATION_TIMEOUT", "RedisStore"]

# KEYS: record, and the index unless the record is anonymous. ARGV: record, expires_at, now,
# session_id, NX|XX, kept_until.
_SAVE: Final = """
if not redis.call('SET', KEYS[1], ARGV[1], ARGV[5], 'EXAT', ARGV[6]) then
    return 0
end
if #KEYS == 1 then
    return 1
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local latest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[2], latest[2])
return 1
"""

# KEYS: index. ARGV: now, record key prefix. Returns the ids whose records still exist.
_LIVE_IDS: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local live = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if redis.call('EXISTS', ARGV[2] .. id) == 1 then
        live[#live + 1] = id
    else
        redis.call('ZREM', KEYS[1], id)
    end
end
return live
"""

# KEYS: record, its ending note. ARGV: the ending. The note lives as long as the record would.
_DELETE_NOTED: Final = """
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if ttl > 0 then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
end
"""

# KEYS: index. ARGV: record key prefix, note key prefix, the ending ('' for none), now.
# Deletes the live records (scored after now); returns how many there were.
_DELETE_USER: Final = """
local deleted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[4], '+inf')) do
    local key = ARGV[1] .. id
    local ttl = redis.call('PTTL', key)
    if ttl ~= -2 then
        redis.call('DEL', key)
        deleted = deleted + 1
        if ARGV[3] ~= '' and ttl > 0 then
            redis.call('SET', ARGV[2] .. id, ARGV[3], 'PX', ttl)
        end
    end
end
redis.call('DEL', KEYS[1])
return deleted
"""


class RedisStore(RedisBacked, SessionStoreBase):
    """``SessionStore`` on Redis, where every failure is ``SessionStoreUnavailableError``.

    Every call is bounded as ``redis_client.BoundedRedis`` describes (1 s
    socket timeouts, one retry on a fresh connection after a connection
    error, ``OPERATION_TIMEOUT`` over the whole call).
    """

    SCRIPTS: ClassVar = {"save": _SAVE, "live_ids": _LIVE_IDS, "delete_noted": _DELETE_NOTED,
                         "delete_user": _DELETE_USER}
    UNAVAILABLE = SessionStoreUnavailableError

    async def load(self, session_id: str) -> str | None:
        """The record, or None when unknown or expired (Redis expires it); never creates one."""
        record: str | None = await self.call(lambda c: c.get(self._record_key(session_id)))
        return record

    async def write(self, session_id: str, record: str, user_id: int | None, expires_at: int,
                    kept_until: int, now: float, *, must_create: bool) -> bool:
        """Create (``SET NX``) or update (``SET XX``) a record and index it, atomically."""
        script = self.script("save")
        written = await self.call(lambda c: script(
            keys=[self._record_key(session_id),
                  *([] if user_id is None else [self._index_key(user_id)])],
            args=[record, expires_at, repr(now), session_id, "NX" if must_create else "XX",
                  kept_until],
            client=c,
        ))
        return bool(written)

    async def delete(self, session_id: str, *, ending: str | None = None) -> None:
        """Remove one record (logout, rotation); its index entry goes lazily. With
        ``ending``, one script deletes it and leaves the note with its remaining TTL."""
        if ending is None:
            await self.call(lambda c: c.delete(self._record_key(session_id)))
            return
        script = self.script("delete_noted")
        await self.call(lambda c: script(
            keys=[self._record_key(session_id), self._note_key(session_id)], args=[ending],
            client=c))

    async def ending(self, session_id: str) -> str | None:
        """The note a delete left, while it lasts."""
        note: str | None = await self.call(lambda c: c.get(self._note_key(session_id)))
        return note

    async def user_session_ids(self, user_id: int) -> list[str]:
        """One user's live session ids, sorted; expired and deleted ones leave the index.

        ``now`` is the app's clock, not Redis's, so index expiry agrees with
        the session policy (and with a test's moved clock).
        """
        script = self.script("live_ids")
        live: list[str] = await self.call(lambda c: script(
            keys=[self._index_key(user_id)], args=[repr(time.time()), self._record_key("")],
            client=c,
        ))
        return sorted(live)

    async def delete_user_sessions(self, user_id: int, *, ending: str | None = None) -> int:
        """End every live session of one user in one atomic step; returns how many there were.

        ``now`` is the app's clock, as for ``user_session_ids``.
        """
        script = self.script("delete_user")
        deleted = await self.call(lambda c: script(
            keys=[self._index_key(user_id)],
            args=[self._record_key(""), self._note_key(""), ending or "", repr(time.time())],
            client=c,
        ))
        return int(deleted)

    def _record_key(self, session_id: str) -> str:
        return self.key("s", session_id)

    def _note_key(self, session_id: str) -> str:
        return self.key("ended", session_id)

    def _index_key(self, user_id: int) -> str:
        return self.key("u", user_id)
