"""What only the Redis store has to prove: its keys, its outages and its recovery.

Outages are real: a port nobody listens on, a server that accepts and never
answers, a connection cut mid-command, and a ``redis-server`` of the test's
own that is stopped and started again. No mocks, no sleeps as waits.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest
import time_machine
from redis.asyncio import Redis

from quart_app.sessions.redis_store import OPERATION_TIMEOUT, RedisStore
from quart_app.sessions.store import SessionStoreUnavailableError

from ..conftest import TEST_REDIS_URL, fresh_redis_prefix, open_redis_backed
from ..live_server import free_port
from ..outage import TcpProxy
from ..services import RedisServer, require_redis_server

ALICE: Final = 1
SID: Final = "s" * 43
RECORD: Final = json.dumps({"data": {"uid": ALICE}, "meta": {}})
# Only stops a hang from hanging the suite; the store's own bound is OPERATION_TIMEOUT.
HANG_GUARD: Final = 10

type Operation = Callable[[RedisStore], Awaitable[object]]

OPERATIONS: Final[dict[str, Operation]] = {
    "load": lambda s: s.load(SID),
    "create": lambda s: s.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=True),
    "update": lambda s: s.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=False),
    "delete": lambda s: s.delete(SID),
    "user_session_ids": lambda s: s.user_session_ids(ALICE),
    "delete_user_sessions": lambda s: s.delete_user_sessions(ALICE),
    "ping": lambda s: s.ping(),
}


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    async with open_redis_backed(RedisStore) as store:
        yield store


@pytest.fixture
async def admin() -> AsyncIterator[Redis]:
    """A plain client on the test Redis, to look at keys as Redis holds them."""
    client = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def keys_under(admin: Redis, prefix: str) -> set[str]:
    return {key async for key in admin.scan_iter(match=f"{prefix}*")}


# --- Keys --------------------------------------------------------------------------------------

async def test_a_store_writes_only_its_two_keys_under_its_prefix(
    redis_store: RedisStore, admin: Redis,
) -> None:
    assert await redis_store.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=True)
    prefix = redis_store.prefix
    assert await keys_under(admin, prefix) == {f"{prefix}s:{SID}", f"{prefix}u:{ALICE}"}


async def test_stores_with_different_prefixes_never_see_each_others_records() -> None:
    async with fresh_redis_prefix() as (url, prefix_a), fresh_redis_prefix() as (_, prefix_b):
        a, b = RedisStore(url, prefix_a), RedisStore(url, prefix_b)
        await a.open()
        await b.open()
        try:
            assert await a.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=True)
            assert await b.load(SID) is None
            assert await b.user_session_ids(ALICE) == []
            assert not await b.save(SID, "{}", ALICE, int(time.time()) + 100, must_create=False)
            assert await b.delete_user_sessions(ALICE) == 0
            await b.delete(SID)
            assert await b.save(SID, "{}", ALICE, int(time.time()) + 100, must_create=True)
            assert await a.load(SID) == RECORD
            assert await a.user_session_ids(ALICE) == [SID]
        finally:
            await a.close()
            await b.close()


async def test_a_record_is_stored_as_the_exact_json_text_never_pickled(
    redis_store: RedisStore, admin: Redis,
) -> None:
    record = json.dumps({"data": {"name": "Zoë", "when": {" d": "2026-11-02"}}, "meta": {}},
                        ensure_ascii=False)
    assert await redis_store.save(SID, record, ALICE, int(time.time()) + 100, must_create=True)
    assert await admin.get(f"{redis_store.prefix}s:{SID}") == record
    assert await redis_store.load(SID) == record


async def test_ending_all_of_a_users_sessions_leaves_no_key_behind(
    redis_store: RedisStore, admin: Redis,
) -> None:
    for name in ("a", "b"):
        assert await redis_store.save(name * 43, RECORD, ALICE, int(time.time()) + 100,
                                      must_create=True)
    assert await redis_store.delete_user_sessions(ALICE) == 2
    assert await keys_under(admin, redis_store.prefix) == set()


async def test_each_save_prunes_expired_entries_from_the_users_index(
    redis_store: RedisStore, admin: Redis, time_machine: time_machine.TimeMachineFixture,
) -> None:
    # Users who never list their sessions must not grow an index of dead ids.
    soon = int(time.time()) + 100
    assert await redis_store.save("a" * 43, RECORD, ALICE, soon, must_create=True)
    time_machine.move_to(datetime.fromtimestamp(soon, UTC), tick=False)
    assert await redis_store.save("b" * 43, RECORD, ALICE, soon + 100, must_create=True)
    assert await admin.zrange(f"{redis_store.prefix}u:{ALICE}", 0, -1) == ["b" * 43]


async def test_the_users_index_expires_with_the_users_latest_session(
    redis_store: RedisStore, admin: Redis,
) -> None:
    soon, latest = int(time.time()) + 100, int(time.time()) + 900
    assert await redis_store.save(SID, RECORD, ALICE, latest, must_create=True)
    assert await redis_store.save("t" * 43, RECORD, ALICE, soon, must_create=True)
    assert await admin.expiretime(f"{redis_store.prefix}u:{ALICE}") == latest


# --- Outages -----------------------------------------------------------------------------------

@pytest.mark.parametrize("operation", OPERATIONS)
async def test_nothing_listening_makes_every_operation_unavailable(operation: str) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", "test:")
    await store.open()
    try:
        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(SessionStoreUnavailableError, match="ConnectionError"):
                await OPERATIONS[operation](store)
    finally:
        await store.close()


@pytest.fixture
async def silent_server() -> AsyncIterator[TcpProxy]:
    """A server that accepts, reads whatever comes and never answers: a hung Redis."""
    server = TcpProxy()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_redis_that_never_answers_makes_every_operation_unavailable(
    silent_server: TcpProxy, operation: str,
) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_server.port}/0", "test:", timeout=0.2)
    await store.open()
    try:
        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(SessionStoreUnavailableError, match="TimeoutError"):
                await OPERATIONS[operation](store)
    finally:
        await store.close()


async def test_a_timeout_is_not_retried_so_a_write_never_runs_twice(
    silent_server: TcpProxy,
) -> None:
    # The server may have run a command it did not answer: a second creation would fail
    # on its own first one. One call, one connection, one attempt.
    store = RedisStore(f"redis://127.0.0.1:{silent_server.port}/0", "test:", timeout=0.2)
    await store.open()
    try:
        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(SessionStoreUnavailableError, match="TimeoutError"):
                await OPERATIONS["create"](store)
    finally:
        await store.close()
    assert silent_server.connections == 1


async def test_the_overall_bound_holds_whatever_the_socket_timeouts(
    silent_server: TcpProxy,
) -> None:
    # Socket timeouts far beyond the guard: only OPERATION_TIMEOUT can end the wait in time.
    assert OPERATION_TIMEOUT < HANG_GUARD
    store = RedisStore(f"redis://127.0.0.1:{silent_server.port}/0", "test:", timeout=60)
    await store.open()
    try:
        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(SessionStoreUnavailableError, match="TimeoutError"):
                await store.ping()
    finally:
        await store.close()


async def test_an_outage_names_the_failure_and_never_the_password() -> None:
    port = free_port()
    store = RedisStore(f"redis://user:s3cret-pw@127.0.0.1:{port}/0?password=s3cret-pw", "t:")
    await store.open()
    try:
        with pytest.raises(SessionStoreUnavailableError) as raised:
            await store.ping()
    finally:
        await store.close()
    message = str(raised.value)
    assert "ConnectionError" in message
    assert f"127.0.0.1:{port}" in message
    assert "s3cret" not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


# --- Recovery ----------------------------------------------------------------------------------

async def test_a_connection_cut_mid_command_is_retried_once_on_a_fresh_one() -> None:
    redis_port = int(TEST_REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    async with fresh_redis_prefix() as (_, prefix):
        proxy = TcpProxy("127.0.0.1", redis_port)
        await proxy.start()
        store = RedisStore(f"redis://127.0.0.1:{proxy.port}/0", prefix)
        await store.open()
        try:
            await store.ping()  # a pooled connection, checked and idle
            proxy.cut_next()
            async with asyncio.timeout(HANG_GUARD):
                assert await store.save(SID, RECORD, ALICE, int(time.time()) + 100,
                                        must_create=True)
            assert not proxy.cut, "the proxy never saw the command it was to drop"
        finally:
            await store.close()
            await proxy.stop()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A private Redis, not started yet; stopped after the test whatever happened."""
    require_redis_server()
    server = RedisServer(free_port(), tmp_path)
    yield server
    await server.stop()


async def test_a_store_opened_while_redis_is_down_works_once_redis_is_up(
    own_redis: RedisServer,
) -> None:
    store = RedisStore(own_redis.url, "test:")
    await store.open()
    try:
        with pytest.raises(SessionStoreUnavailableError):
            await store.ping()
        await own_redis.start()
        assert await store.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=True)
        assert await store.load(SID) == RECORD
    finally:
        await store.close()


async def test_a_restarted_redis_is_used_by_the_very_next_call(own_redis: RedisServer) -> None:
    await own_redis.start()
    store = RedisStore(own_redis.url, "test:")
    await store.open()
    try:
        assert await store.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=True)
        # Restarted between two calls: the pooled connection is dead, and nothing told us.
        await own_redis.stop()
        await own_redis.start()
        assert await store.load(SID) is None  # nothing persisted: the restart lost the record
        assert await store.save(SID, RECORD, ALICE, int(time.time()) + 100, must_create=True)
    finally:
        await store.close()
