"""What every fault test does: a live app on private services, a user, bounded waits."""

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from quart_app.errors import DATABASE_DOWN, SESSION_STORE_DOWN, THROTTLE_STORE_DOWN
from quart_app.health import CHECK_TIMEOUT, FRESH_FOR
from quart_app.redis_client import OPERATION_TIMEOUT

from ..conftest import PASSWORD, SECRET_KEY, fresh_postgres_database, fresh_redis_prefix
from ..live_server import LiveServer, free_port, live_server
from ..services import PostgresCluster, RedisServer, require_redis_server
from ..test_scale_out import login
from ..test_server import Visitor

# README: a 503 says when to try again.
RETRY_AFTER: Final = "5"
# A request that needs Redis fails at its first Redis call, and each call is bounded by
# OPERATION_TIMEOUT (socket timeouts and the one retry included); four times that leaves room
# for a busy 2-core machine, yet a hang (or redis-py's own 10 s timeouts) fails the test.
REDIS_ANSWER_WITHIN: Final = 4 * OPERATION_TIMEOUT
# README: a real outage shows on /healthz within FRESH_FOR + CHECK_TIMEOUT (3 s); twice that
# for a busy 2-core machine. A stopped PostgreSQL refuses connections at once, so pages are
# held to the same bound (the app sets no database timeout of its own).
HEALTH_SHOWS_WITHIN: Final = 2 * (FRESH_FOR + CHECK_TIMEOUT)
# Only bounds how long a test waits for a restarted service to be used again; a recovery
# that needs the app restarted never comes, so the wait fails instead of hanging the suite.
RECOVERY_WITHIN: Final = 30.0
POLL_INTERVAL: Final = 0.05


@contextlib.asynccontextmanager
async def app_on(tmp_path: Path, redis_url: str, database_url: str,
                 extra: Mapping[str, str] | None = None) -> AsyncIterator[LiveServer]:
    """Hypercorn from ``hypercorn.toml`` (two workers) on Redis sessions and PostgreSQL users."""
    environment = {
        "QUART_SECRET_KEY": SECRET_KEY, "QUART_SESSION_BACKEND": "redis",
        "QUART_REDIS_URL": redis_url, "QUART_DATABASE_URL": database_url, **(extra or {}),
    }
    async with live_server(tmp_path / "instance", environment) as server:
        yield server


@dataclass(frozen=True)
class ServiceOutage:
    """A live app, and one service behind it that the test takes down and brings back."""

    server: LiveServer
    down: Callable[[], Awaitable[None]]
    up: Callable[[], Awaitable[None]]
    page_says: str
    log_says: str
    answer_within: float
    login_page_says: str  # a login asks the throttle's store first


@contextlib.asynccontextmanager
async def redis_outage(tmp_path: Path) -> AsyncIterator[ServiceOutage]:
    """The app on a private Redis (append-only file synced per write), killed with SIGKILL."""
    require_redis_server()
    redis = RedisServer(free_port(), tmp_path / "redis", persistent=True)
    await redis.start()
    try:
        async with (fresh_postgres_database() as database,
                    app_on(tmp_path, redis.url, database) as server):
            yield ServiceOutage(server, redis.kill, redis.start, SESSION_STORE_DOWN,
                                "session store unavailable", REDIS_ANSWER_WITHIN,
                                THROTTLE_STORE_DOWN)
    finally:
        await redis.stop()


@contextlib.asynccontextmanager
async def postgres_outage(tmp_path: Path, data: Path,
                          user: str | None) -> AsyncIterator[ServiceOutage]:
    """The app on a private PostgreSQL cluster in ``data``, stopped with ``-m immediate``.

    ``USER_CACHE_TTL=0``: every logged-in request asks the database, so the outage
    shows at the first request instead of within the cache's second.
    """
    cluster = PostgresCluster(data, user, port=free_port())
    await cluster.start()
    try:
        database = await cluster.create_database(f"faults_{secrets.token_hex(6)}")
        async with fresh_redis_prefix() as (redis, prefix), app_on(
            tmp_path, redis, database,
            {"QUART_SESSION_KEY_PREFIX": prefix, "QUART_USER_CACHE_TTL": "0"},
        ) as server:
            yield ServiceOutage(server, cluster.stop, cluster.start, DATABASE_DOWN,
                                "database unavailable", HEALTH_SHOWS_WITHIN, DATABASE_DOWN)
    finally:
        if cluster.running:
            await cluster.stop()


async def registered_and_logged_in(server: LiveServer) -> Visitor:
    """alice registers through the form and logs in: a browser holding her session."""
    registered = await Visitor(server).submit(
        "/register", {"username": "alice", "password": PASSWORD, "confirm": PASSWORD})
    assert registered.status_code == 303, registered.text
    return await login(server)


async def login_attempt(server: LiveServer) -> tuple[Visitor, httpx.Response]:
    """A new browser opens the login page and submits alice's password; it and the answer."""
    browser = Visitor(server)
    return browser, await browser.submit("/login", {"username": "alice", "password": PASSWORD})


async def logins_on_both_workers(server: LiveServer, status: int) -> Visitor:
    """New browsers log in until each worker has answered one with ``status``; the last one.

    Each worker has its own connections to Redis and PostgreSQL, so an outage
    and a recovery are only seen in full once both workers have shown them.
    """
    since = len(server.output)

    def both_answered(_: object) -> bool:
        hits = server.access_log("/login", since)
        return len({pid for seen, pid in hits if seen == status}) >= 2

    (browser, _), _ = await poll(lambda: login_attempt(server), both_answered)
    return browser


def assert_unavailable_page(response: httpx.Response, message: str, within: float) -> None:
    """The README's 503: the page says what is down, ``Retry-After: 5``, answered in time."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == RETRY_AFTER
    assert message in response.text
    assert response.elapsed.total_seconds() <= within, (
        f"the 503 took {response.elapsed.total_seconds():.2f} s; the bound is {within} s")


async def logged(server: LiveServer, text: str) -> None:
    """Wait (bounded) until the app has written a line containing ``text`` to its stderr."""
    await server.wait_for_output(lambda: any(text in line for line in server.output))


async def poll[T](attempt: Callable[[], Awaitable[T]], done: Callable[[T], bool],
                  within: float = RECOVERY_WITHIN) -> tuple[T, float]:
    """Repeat ``attempt`` until ``done`` accepts its result; that result and the time it took."""
    started = time.monotonic()
    result = await attempt()
    try:
        async with asyncio.timeout(within):
            while not done(result):
                await asyncio.sleep(POLL_INTERVAL)  # poll interval, not a wait for an outcome
                result = await attempt()
    except TimeoutError:
        raise AssertionError(f"still {result!r} after {within} s") from None
    return result, time.monotonic() - started
