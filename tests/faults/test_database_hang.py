"""A PostgreSQL that stops answering (frozen, or a network that drops packets) without closing.

The proxy in front of a real PostgreSQL keeps every connection open and
forwards nothing: no refusal, no reset, the case that a missing timeout turns
into a request held for minutes.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from quart_app.users import QUERY_TIMEOUT, User

from ..conftest import AuthActions, fresh_postgres_database
from ..outage import TcpProxy, proxied

PROXY = pytest.StashKey[TcpProxy]()
# Connecting or a statement waits at most QUERY_TIMEOUT; a request may meet both, and the
# pool's check of a connection first.
BOUND = 3 * QUERY_TIMEOUT

pytestmark = pytest.mark.config(USER_CACHE_TTL=0)  # every page asks the database


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh PostgreSQL database behind a proxy the test can freeze."""
    async with fresh_postgres_database() as fresh, proxied(fresh) as (url, proxy):
        request.node.stash[PROXY] = proxy
        yield url


@pytest.fixture
def proxy(request: pytest.FixtureRequest, database: str) -> TcpProxy:
    return request.node.stash[PROXY]


@pytest.mark.parametrize("path", ["/profile", "/healthz"])
async def test_a_database_that_stops_answering_is_a_503_within_the_bound(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy, path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await auth.login()).status_code == 303
    proxy.freeze()
    started = time.monotonic()
    try:
        async with asyncio.timeout(2 * BOUND):  # a regression fails here instead of hanging
            response = await auth.client.get(path)
    finally:
        proxy.thaw()
    waited = time.monotonic() - started
    assert response.status_code == 503
    assert waited < BOUND
    if path == "/profile":
        assert response.headers["Retry-After"] == "5"
        assert "The account database is not answering" in await response.get_data(as_text=True)
        assert "database unavailable" in caplog.text


async def test_once_it_answers_again_pages_work_without_a_restart(
    app: Quart, auth: AuthActions, user: User, proxy: TcpProxy,
) -> None:
    assert (await auth.login()).status_code == 303
    proxy.freeze()
    try:
        async with asyncio.timeout(2 * BOUND):
            assert (await auth.client.get("/profile")).status_code == 503
    finally:
        proxy.thaw()
    assert (await auth.client.get("/profile")).status_code == 200
    assert (await auth.logout()).status_code == 303
    assert (await auth.login()).status_code == 303
