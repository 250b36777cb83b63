"""What only the memory store has to prove: it stays bounded, and how it chooses what to drop."""

import time
from datetime import UTC, datetime

import pytest
import time_machine

from quart_app.sessions.memory import MemoryStore

ALICE, BOB = 1, 2
RECORD = '{"data": {}, "meta": {}}'


def sid(name: str) -> str:
    return name.ljust(43, "_")


def in_(seconds: int) -> int:
    return int(time.time()) + seconds


async def test_a_full_store_drops_expired_records_before_any_live_one(
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    store = MemoryStore(max_records=2)
    assert await store.save(sid("old"), RECORD, ALICE, in_(10), must_create=True)
    assert await store.save(sid("live"), RECORD, ALICE, in_(1000), must_create=True)
    time_machine.move_to(datetime.fromtimestamp(in_(20), UTC), tick=False)
    assert await store.save(sid("new"), RECORD, BOB, in_(500), must_create=True)
    assert await store.load(sid("live")) == RECORD
    assert await store.load(sid("new")) == RECORD


async def test_a_full_store_evicts_the_record_that_expires_soonest_never_refusing_a_login(
) -> None:
    store = MemoryStore(max_records=3)
    for name, seconds in (("a", 300), ("soonest", 100), ("c", 200)):
        assert await store.save(sid(name), RECORD, ALICE, in_(seconds), must_create=True)
    assert await store.save(sid("new"), RECORD, BOB, in_(1000), must_create=True)
    assert await store.load(sid("soonest")) is None
    assert await store.user_session_ids(ALICE) == [sid("a"), sid("c")]
    assert await store.user_session_ids(BOB) == [sid("new")]


async def test_the_soonest_expiry_is_judged_after_updates_moved_it() -> None:
    store = MemoryStore(max_records=2)
    assert await store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    assert await store.save(sid("b"), RECORD, ALICE, in_(200), must_create=True)
    assert await store.save(sid("a"), RECORD, ALICE, in_(900), must_create=False)
    assert await store.save(sid("new"), RECORD, ALICE, in_(500), must_create=True)
    assert await store.user_session_ids(ALICE) == [sid("a"), sid("new")]


async def test_updates_do_not_grow_the_store_beyond_its_records() -> None:
    store = MemoryStore()
    assert await store.save(sid("a"), RECORD, ALICE, in_(100), must_create=True)
    for step in range(10_000):
        assert await store.save(sid("a"), RECORD, ALICE, in_(100 + step), must_create=False)
    assert len(store._expiries) <= 2 * 1 + 64


def test_the_bound_must_allow_at_least_one_record() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryStore(max_records=0)
