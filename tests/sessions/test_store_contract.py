"""One contract for every ``SessionStore``: the same cases against memory and a real Redis.

Like ``tests/test_users.py`` runs against SQLite and PostgreSQL: whatever the
app relies on is proved for each store. Time is the app's ``time.time()``;
the memory store is judged by it alone, while Redis expires record keys by
its own clock, so expiry is checked there as the absolute time Redis holds.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from redis.asyncio import Redis

from quart_app.sessions.memory import MemoryStore
from quart_app.sessions.redis_store import RedisStore
from quart_app.sessions.store import SessionStore

from ..conftest import TEST_REDIS_URL, open_redis_backed

ALICE, BOB = 1, 2
RECORD = json.dumps({"data": {"uid": ALICE, "name": "alice"}, "meta": {"created": 1}})
OTHER_RECORD = json.dumps({"data": {"uid": ALICE, "name": "alice", "n": 2}, "meta": {}})


@pytest.fixture(params=["memory", "redis"])
async def session_store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    """An open, empty store; the Redis one under a prefix of its own, removed afterwards."""
    if request.param == "memory":
        memory = MemoryStore()
        await memory.open()
        yield memory
        await memory.close()
        return
    async with open_redis_backed(RedisStore) as store:
        yield store


def sid(name: str) -> str:
    """A session id of the real shape (43 url-safe characters), readable in failures."""
    return name.ljust(43, "_")


def in_(seconds: int) -> int:
    """An ``expires_at`` this many whole seconds from now."""
    return int(time.time()) + seconds


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def assert_expires_at(store: SessionStore, session_id: str, expires_at: int,
                            clock: time_machine.TimeMachineFixture) -> None:
    """The record lives until exactly ``expires_at``.

    Redis forgets keys by its own clock: the key must carry that absolute
    time. The memory store is judged by ``time.time()``: alive a moment
    before, gone at that second (moves the test's clock).
    """
    if isinstance(store, RedisStore):
        admin = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
        try:
            assert await admin.expiretime(f"{store.prefix}s:{session_id}") == expires_at
        finally:
            await admin.aclose()
        return
    clock.move_to(at(expires_at) - timedelta(milliseconds=1), tick=False)
    assert await store.load(session_id) is not None
    clock.move_to(at(expires_at), tick=False)
    assert await store.load(session_id) is None


async def test_loading_an_unknown_id_finds_nothing_and_creates_nothing(
    session_store: SessionStore,
) -> None:
    assert await session_store.load(sid("unknown")) is None
    assert await session_store.load(sid("unknown")) is None
    assert await session_store.user_session_ids(ALICE) == []
    assert await session_store.delete_user_sessions(ALICE) == 0


async def test_a_created_record_loads_as_the_exact_text_saved(
    session_store: SessionStore,
) -> None:
    record = json.dumps({"data": {"name": "Zoë ✓", "s": "a\nb\"c"}, "meta": {}},
                        ensure_ascii=False)
    assert await session_store.save(sid("a"), record, ALICE, in_(100), must_create=True)
    assert await session_store.load(sid("a")) == record


async def test_creating_under_an_id_in_use_fails_and_keeps_the_first_record(
    session_store: SessionStore,
) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    assert not await session_store.save(sid("a"), OTHER_RECORD, BOB, in_(200), must_create=True)
    assert await session_store.load(sid("a")) == RECORD
    assert await session_store.user_session_ids(BOB) == []


async def test_updating_a_missing_record_fails_and_creates_nothing(
    session_store: SessionStore,
) -> None:
    assert not await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=False)
    assert await session_store.load(sid("a")) is None
    assert await session_store.user_session_ids(ALICE) == []


async def test_updating_a_deleted_record_does_not_resurrect_it(
    session_store: SessionStore,
) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    await session_store.delete(sid("a"))
    assert not await session_store.save(sid("a"), OTHER_RECORD, ALICE, in_(100),
                                        must_create=False)
    assert await session_store.load(sid("a")) is None
    assert await session_store.user_session_ids(ALICE) == []


async def test_updating_an_existing_record_replaces_it_and_moves_its_expiry(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    later = in_(500)
    assert await session_store.save(sid("a"), OTHER_RECORD, ALICE, later, must_create=False)
    assert await session_store.load(sid("a")) == OTHER_RECORD
    await assert_expires_at(session_store, sid("a"), later, time_machine)


async def test_a_record_expires_at_its_expires_at(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    expires_at = in_(100)
    assert await session_store.save(sid("a"), RECORD, ALICE, expires_at, must_create=True)
    await assert_expires_at(session_store, sid("a"), expires_at, time_machine)


async def test_an_expired_session_leaves_its_users_index(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    soon, later = in_(100), in_(300)
    assert await session_store.save(sid("soon"), RECORD, ALICE, soon, must_create=True)
    assert await session_store.save(sid("later"), RECORD, ALICE, later, must_create=True)
    time_machine.move_to(at(soon), tick=False)
    assert await session_store.user_session_ids(ALICE) == [sid("later")]


async def test_an_update_that_is_already_expired_ends_the_session(
    session_store: SessionStore,
) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    now = int(time.time())  # not in the future: the session's time is up
    assert not await session_store.save(sid("a"), OTHER_RECORD, ALICE, now, must_create=False)
    assert await session_store.load(sid("a")) is None
    assert await session_store.user_session_ids(ALICE) == []


async def test_creating_an_already_expired_session_is_refused_loudly(
    session_store: SessionStore,
) -> None:
    with pytest.raises(ValueError, match="must expire in the future"):
        await session_store.save(sid("a"), RECORD, ALICE, int(time.time()), must_create=True)
    assert await session_store.load(sid("a")) is None
    assert await session_store.user_session_ids(ALICE) == []


async def test_deleting_one_session_leaves_the_users_others_alive_and_listed(
    session_store: SessionStore,
) -> None:
    for name in ("a", "b", "c"):
        assert await session_store.save(sid(name), RECORD, ALICE, in_(100), must_create=True)
    await session_store.delete(sid("b"))
    assert await session_store.load(sid("b")) is None
    assert await session_store.load(sid("a")) == RECORD
    assert await session_store.load(sid("c")) == RECORD
    assert await session_store.user_session_ids(ALICE) == [sid("a"), sid("c")]


async def test_deleting_a_missing_record_is_not_an_error(session_store: SessionStore) -> None:
    await session_store.delete(sid("never"))
    assert await session_store.load(sid("never")) is None


async def test_user_session_ids_lists_only_that_users_live_ids_sorted(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    # Expiry order differs from id order, so a list in index order would not be sorted.
    for name, seconds in (("d", 100), ("b", 400), ("a", 300), ("c", 200), ("e", 50)):
        assert await session_store.save(sid(name), RECORD, ALICE, in_(seconds),
                                        must_create=True)
    assert await session_store.save(sid("bob"), RECORD, BOB, in_(100), must_create=True)
    await session_store.delete(sid("c"))
    time_machine.move_to(at(in_(60)), tick=False)  # "e" has expired
    assert await session_store.user_session_ids(ALICE) == [sid("a"), sid("b"), sid("d")]
    assert await session_store.user_session_ids(BOB) == [sid("bob")]


async def test_delete_user_sessions_ends_every_one_and_counts_only_existing_records(
    session_store: SessionStore,
) -> None:
    for name in ("a", "b", "c"):
        assert await session_store.save(sid(name), RECORD, ALICE, in_(100), must_create=True)
    await session_store.delete(sid("c"))  # already gone: not counted
    assert await session_store.delete_user_sessions(ALICE) == 2
    assert await session_store.load(sid("a")) is None
    assert await session_store.load(sid("b")) is None
    assert await session_store.user_session_ids(ALICE) == []
    assert await session_store.delete_user_sessions(ALICE) == 0


async def test_delete_user_sessions_leaves_other_users_alone(
    session_store: SessionStore,
) -> None:
    assert await session_store.save(sid("alice"), RECORD, ALICE, in_(100), must_create=True)
    assert await session_store.save(sid("bob"), OTHER_RECORD, BOB, in_(100), must_create=True)
    assert await session_store.delete_user_sessions(ALICE) == 1
    assert await session_store.load(sid("bob")) == OTHER_RECORD
    assert await session_store.user_session_ids(BOB) == [sid("bob")]


async def test_update_only_saves_racing_a_delete_never_recreate_the_record(
    session_store: SessionStore,
) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    updates = [session_store.save(sid("a"), OTHER_RECORD, ALICE, in_(100), must_create=False)
               for _ in range(20)]
    # The delete is scheduled in the middle: updates after it must all fail, whatever the order.
    results = await asyncio.gather(*updates[:10], session_store.delete(sid("a")), *updates[10:])
    assert results[10] is None
    assert await session_store.load(sid("a")) is None
    assert await session_store.user_session_ids(ALICE) == []


# --- kept past expiry, and ending notes: telling a device why its login ended -------------


async def test_a_record_kept_past_its_expiry_loads_until_then_but_is_no_longer_listed(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    expires_at, kept_until = in_(100), in_(1000)
    assert await session_store.save(sid("a"), RECORD, ALICE, expires_at, must_create=True,
                                    kept_until=kept_until)
    time_machine.move_to(at(expires_at), tick=False)
    assert await session_store.user_session_ids(ALICE) == []
    assert await session_store.load(sid("a")) == RECORD
    await assert_expires_at(session_store, sid("a"), kept_until, time_machine)


async def test_a_kept_until_before_the_expiry_changes_nothing(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    expires_at = in_(100)
    assert await session_store.save(sid("a"), RECORD, ALICE, expires_at, must_create=True,
                                    kept_until=in_(10))
    await assert_expires_at(session_store, sid("a"), expires_at, time_machine)


async def test_a_delete_with_an_ending_leaves_it_for_the_id_alone(
    session_store: SessionStore,
) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    assert await session_store.save(sid("b"), RECORD, ALICE, in_(100), must_create=True)
    await session_store.delete(sid("a"), ending="ended-elsewhere")
    assert await session_store.load(sid("a")) is None
    assert await session_store.ending(sid("a")) == "ended-elsewhere"
    assert await session_store.ending(sid("b")) is None
    assert await session_store.user_session_ids(ALICE) == [sid("b")]


async def test_a_delete_without_an_ending_leaves_none(session_store: SessionStore) -> None:
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    await session_store.delete(sid("a"))
    assert await session_store.ending(sid("a")) is None


async def test_deleting_a_missing_record_leaves_no_ending(session_store: SessionStore) -> None:
    await session_store.delete(sid("never"), ending="ended-elsewhere")
    assert await session_store.ending(sid("never")) is None


async def test_an_ending_lasts_as_long_as_the_record_would_have(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    kept_until = in_(1000)
    assert await session_store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True,
                                    kept_until=kept_until)
    await session_store.delete(sid("a"), ending="password-changed")
    if isinstance(session_store, RedisStore):
        admin = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
        try:
            assert abs(await admin.expiretime(f"{session_store.prefix}ended:{sid('a')}")
                       - kept_until) <= 1
        finally:
            await admin.aclose()
        return
    time_machine.move_to(at(kept_until) - timedelta(milliseconds=1), tick=False)
    assert await session_store.ending(sid("a")) == "password-changed"
    time_machine.move_to(at(kept_until), tick=False)
    assert await session_store.ending(sid("a")) is None


async def test_delete_user_sessions_leaves_the_ending_for_each_live_one(
    session_store: SessionStore,
) -> None:
    for name in ("a", "b"):
        assert await session_store.save(sid(name), RECORD, ALICE, in_(100), must_create=True)
    assert await session_store.save(sid("bob"), RECORD, BOB, in_(100), must_create=True)
    assert await session_store.delete_user_sessions(ALICE, ending="account-deleted") == 2
    assert [await session_store.ending(sid(name)) for name in ("a", "b", "bob")] == [
        "account-deleted", "account-deleted", None]


async def test_delete_user_sessions_leaves_a_timed_out_record_to_say_so(
    session_store: SessionStore, time_machine: time_machine.TimeMachineFixture,
) -> None:
    assert await session_store.save(sid("idle"), RECORD, ALICE, in_(100), must_create=True,
                                    kept_until=in_(1000))
    assert await session_store.save(sid("live"), RECORD, ALICE, in_(500), must_create=True,
                                    kept_until=in_(1000))
    time_machine.move_to(at(in_(200)), tick=False)
    assert await session_store.delete_user_sessions(ALICE, ending="password-changed") == 1
    assert await session_store.load(sid("idle")) == RECORD
    assert await session_store.ending(sid("idle")) is None
    assert await session_store.ending(sid("live")) == "password-changed"


async def test_ping_answers(session_store: SessionStore) -> None:
    await session_store.ping()
