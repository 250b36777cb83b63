"""One contract for every ``ThrottleStore``: the same cases against SQLite, PostgreSQL and Redis.

Like ``tests/sessions/test_store_contract.py`` for the session stores: what
the throttle relies on (an atomic count per key, a window that starts at the
first hit, reset, give-back, forgetting ended windows) is proved for each
store. Time is the app's ``time.time()`` for the SQL stores, on conftest's
stopped ``clock``; Redis ends a window by its own clock (the key's TTL), so
there the TTL is what is checked. The policy on top of the
store is ``tests/test_throttle.py``.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Final

import pytest
import time_machine
from redis.asyncio import Redis
from sqlalchemy import select

from quart_app.throttle import RedisThrottleStore, SqlThrottleStore, ThrottleStore
from quart_app.users import build_store, login_failures_table

from .conftest import TEST_REDIS_URL, fresh_postgres_database, open_redis_backed

STORES: Final = ["sqlite", "postgresql", "redis"]


@contextlib.asynccontextmanager
async def open_store(kind: str, tmp_path: Path) -> AsyncIterator[ThrottleStore]:
    """An open, empty ``ThrottleStore`` of each kind (the SQL ones with the user schema)."""
    if kind == "redis":
        async with open_redis_backed(RedisThrottleStore) as redis_store:
            yield redis_store
        return
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'throttle.db'}"
        else:
            url = (await stack.enter_async_context(fresh_postgres_database())).replace(
                "postgresql://", "postgresql+asyncpg://", 1)
        users = build_store(url)
        await users.create_schema()
        try:
            yield SqlThrottleStore(users)
        finally:
            await users.close()


@pytest.fixture(params=STORES)
async def throttle_store(request: pytest.FixtureRequest,
                         tmp_path: Path) -> AsyncIterator[ThrottleStore]:
    async with open_store(request.param, tmp_path) as store:
        yield store


async def redis_ttl(store: RedisThrottleStore, key: str) -> int:
    admin = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        return int(await admin.ttl(f"{store.prefix}throttle:{key}"))
    finally:
        await admin.aclose()


async def set_redis_ttl(store: RedisThrottleStore, key: str, seconds: int) -> None:
    admin = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        assert await admin.expire(f"{store.prefix}throttle:{key}", seconds)
    finally:
        await admin.aclose()


async def test_store_counts_each_key_up_from_one(throttle_store: ThrottleStore) -> None:
    counts = [await throttle_store.hit([("a", 900), ("b", 900)]) for _ in range(3)]
    assert [[c.count for c in pair] for pair in counts] == [[1, 1], [2, 2], [3, 3]]
    assert (await throttle_store.hit([("c", 900)]))[0].count == 1


async def test_store_counts_concurrent_hits_without_losing_one(
    throttle_store: ThrottleStore,
) -> None:
    hits = await asyncio.gather(*(throttle_store.hit([("k", 900)]) for _ in range(20)))
    assert sorted(count.count for [count] in hits) == list(range(1, 21))


async def test_store_reset_forgets_one_key_only(throttle_store: ThrottleStore) -> None:
    await throttle_store.hit([("a", 900), ("b", 900)])
    await throttle_store.reset("a")
    await throttle_store.reset("never-counted")
    assert [c.count for c in await throttle_store.hit([("a", 900), ("b", 900)])] == [1, 2]


async def test_store_give_back_lowers_each_key_by_one_and_never_below_zero(
    throttle_store: ThrottleStore,
) -> None:
    await throttle_store.hit([("a", 900), ("b", 900)])
    await throttle_store.hit([("a", 900)])
    await throttle_store.give_back(["a", "b", "never-counted"])
    await throttle_store.give_back(["b"])
    assert [c.count for c in await throttle_store.hit([("a", 900), ("b", 900)])] == [2, 1]
    assert (await throttle_store.hit([("never-counted", 900)]))[0].count == 1


async def test_store_window_starts_at_the_first_hit_and_ends_after_it(
    throttle_store: ThrottleStore, clock: time_machine.TimeMachineFixture,
) -> None:
    [first] = await throttle_store.hit([("k", 900)])
    assert first.resets_in == 900
    if isinstance(throttle_store, RedisThrottleStore):
        # Redis ends the window by its own clock: the key's TTL is the window. Time is not
        # waited for: the TTL is set to what 800 s later would leave, and a hit keeps it.
        assert 899 <= await redis_ttl(throttle_store, "k") <= 900
        await set_redis_ttl(throttle_store, "k", 100)
        [second] = await throttle_store.hit([("k", 900)])
        assert second.count == 2
        assert 99 <= second.resets_in <= 100
        assert 99 <= await redis_ttl(throttle_store, "k") <= 100
        return
    clock.shift(timedelta(seconds=899))
    [second] = await throttle_store.hit([("k", 900)])
    assert (second.count, second.resets_in) == (2, 1)
    clock.shift(timedelta(seconds=1))
    [fresh] = await throttle_store.hit([("k", 900)])
    assert (fresh.count, fresh.resets_in) == (1, 900)


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql_store(request: pytest.FixtureRequest,
                    tmp_path: Path) -> AsyncIterator[SqlThrottleStore]:
    async with open_store(request.param, tmp_path) as store:
        assert isinstance(store, SqlThrottleStore)
        yield store


async def sql_rows(store: SqlThrottleStore) -> set[str]:
    async with store.engine.connect() as conn:
        return set((await conn.scalars(select(login_failures_table.c.key))).all())


async def test_sql_store_deletes_the_rows_whose_window_has_ended_by_each_kinds_window(
    sql_store: SqlThrottleStore, clock: time_machine.TimeMachineFixture,
) -> None:
    await sql_store.hit([(f"short:{n}", 900) for n in range(50)] + [("long:1", 3600)])
    clock.shift(timedelta(seconds=600))
    await sql_store.hit([("short:late", 900)])
    assert len(await sql_rows(sql_store)) == 52  # no window has ended yet
    clock.shift(timedelta(seconds=300))  # the first short windows end, not the long one
    await sql_store.hit([("long:2", 3600)])
    assert await sql_rows(sql_store) == {"short:late", "long:1", "long:2"}
    clock.shift(timedelta(seconds=3600))
    await sql_store.hit([("short:new", 900)])
    assert await sql_rows(sql_store) == {"short:new"}
