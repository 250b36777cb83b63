"""A PostgreSQL that stops answering (frozen, or a network that drops packets) without closing.

The proxy in front of a real PostgreSQL keeps every connection open and
forwards nothing: no refusal, no reset, the case that a missing timeout turns
into a request held for minutes. Sessions and login counters live in Redis,
which keeps answering.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from quart_app.users import QUERY_TIMEOUT, User, UserStore

from ..conftest import AuthActions, fresh_postgres_database, on_backend
from ..outage import TcpProxy, proxied

PROXY = pytest.StashKey[TcpProxy]()
# Connecting or a statement waits at most QUERY_TIMEOUT; a request may meet the pool's check
# of a connection, then a statement.
BOUND = 3 * QUERY_TIMEOUT
SMALL = {"account": [3, 900], "address": [6, 900]}

pytestmark = pytest.mark.config(USER_CACHE_TTL=0, LOGIN_THROTTLE=SMALL)  # pages ask the database


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh PostgreSQL database behind a proxy the test can freeze."""
    async with fresh_postgres_database() as fresh, proxied(fresh) as (url, proxy):
        request.node.stash[PROXY] = proxy
        yield url


@pytest.fixture
async def config(config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Sessions and login counters in Redis, which keeps answering."""
    async with on_backend("redis", config) as configured:
        yield configured


@pytest.fixture
def proxy(request: pytest.FixtureRequest, database: str) -> TcpProxy:
    proxy: TcpProxy = request.node.stash[PROXY]
    return proxy


@contextlib.asynccontextmanager
async def frozen(proxy: TcpProxy) -> AsyncIterator[None]:
    """The database hangs inside the block; a regression fails here instead of hanging."""
    proxy.freeze()
    try:
        async with asyncio.timeout(2 * BOUND):
            yield
    finally:
        proxy.thaw()


async def timed_get(auth: AuthActions, path: str) -> tuple[Any, float]:
    started = time.monotonic()
    response = await auth.client.get(path)
    return response, time.monotonic() - started


async def test_a_page_is_the_503_page_with_a_log_line_within_the_bound(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await auth.login()).status_code == 303
    async with frozen(proxy):
        response, waited = await timed_get(auth, "/profile")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "The account database is not answering" in await response.get_data(as_text=True)
    assert "database unavailable" in caplog.text
    assert waited < BOUND


async def test_healthz_names_the_database_within_the_bound(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy,
) -> None:
    async with frozen(proxy):
        response, waited = await timed_get(auth, "/healthz")
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["database"] == "down"
    assert waited < BOUND


async def test_a_connection_that_cannot_be_made_is_the_503_page_within_the_bound(
    app: Quart, auth: AuthActions, user: User, store: UserStore, proxy: TcpProxy,
) -> None:
    assert (await auth.login()).status_code == 303
    async with frozen(proxy):
        await store.engine.dispose()  # no pooled connection left: the next one must connect
        response, waited = await timed_get(auth, "/profile")
    assert response.status_code == 503
    assert waited < BOUND


async def test_a_request_refused_before_the_user_is_known_keeps_its_own_status(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy,
) -> None:
    assert (await auth.login()).status_code == 303
    async with frozen(proxy):
        response = await auth.client.post("/logout", form={"csrf_token": "forged"})
    assert response.status_code == 403


async def test_logins_refused_while_it_hangs_are_not_counted(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy,
) -> None:
    token = await auth.token()
    form = {"username": "alice", "password": "not the password at all", "csrf_token": token}
    async with frozen(proxy):
        assert [(await auth.client.post("/login", form=form)).status_code
                for _ in range(2)] == [503, 503]
    answers = [(await auth.login(password="not the password at all")).status_code
               for _ in range(4)]
    assert answers == [401, 401, 401, 429]


async def test_once_it_answers_again_pages_work_without_a_restart(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy,
) -> None:
    assert (await auth.login()).status_code == 303
    async with frozen(proxy):
        assert (await auth.client.get("/profile")).status_code == 503
    assert (await auth.client.get("/profile")).status_code == 200
    assert (await auth.logout()).status_code == 303
    assert (await auth.login()).status_code == 303
