"""Redis down or hanging: 503 in the site's layout within a bounded time, then recovery.

The app reaches the real Redis through a proxy the test can cut or freeze
(``tests/outage.py``), so the outage is real to the app: refused or silent
sockets, never a mock.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from quart import Quart, session
from quart.typing import TestClientProtocol as Client

from quart_app.sessions import get_store
from quart_app.sessions.redis_store import RedisStore
from quart_app.throttle import RedisThrottleStore, get_throttle
from quart_app.users import User

from ..conftest import (
    AuthActions,
    cookie_attributes,
    log_in,
    on_backend,
    replay,
    set_cookie_headers,
)
from ..outage import TcpProxy, proxied

PROXY = pytest.StashKey[TcpProxy]()
# The documented bound on a request that needs Redis: socket timeouts and one retry inside
# a 2 s overall limit; this guard only stops a hang from hanging the suite.
HANG_GUARD: Final = 10


@pytest.fixture
async def config(
    request: pytest.FixtureRequest, config: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """The Redis backend, reached through a proxy this test controls."""
    async with (on_backend("redis", config) as configured,
                proxied(configured["REDIS_URL"]) as (via_proxy, proxy)):
        request.node.stash[PROXY] = proxy
        yield {**configured, "REDIS_URL": via_proxy}


@pytest.fixture
def proxy(request: pytest.FixtureRequest, app: Quart) -> TcpProxy:
    proxy: TcpProxy = request.node.stash[PROXY]
    return proxy


SESSIONS_DOWN: Final = "The session store is not answering."
THROTTLE_DOWN: Final = "the service that counts login attempts is not answering"


async def assert_store_unavailable_page(response: Any, says: str = SESSIONS_DOWN) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert says in await response.get_data(as_text=True)


@pytest.mark.parametrize("outage", ["down", "hanging"])
async def test_a_logged_in_request_gets_a_503_page_and_a_log_line(
    app: Quart, client: Client, user: User, proxy: TcpProxy, outage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cookie = await log_in(app, client, user)
    if outage == "down":
        await proxy.stop()
    else:
        proxy.freeze()
    async with asyncio.timeout(HANG_GUARD):
        response = await replay(app, cookie).get("/profile")
    await assert_store_unavailable_page(response)
    assert "session store unavailable" in caplog.text


async def test_login_during_an_outage_is_a_503_naming_the_login_counter_not_the_sessions(
    auth: AuthActions, user: User, proxy: TcpProxy, caplog: pytest.LogCaptureFixture,
) -> None:
    token = await auth.token()
    await proxy.stop()
    form = {"username": "alice", "password": "correct horse battery", "csrf_token": token}
    async with asyncio.timeout(HANG_GUARD):
        response = await auth.client.post("/login", form=form)
    await assert_store_unavailable_page(response, THROTTLE_DOWN)
    assert "login throttle store unavailable" in caplog.text
    assert "session store unavailable" not in caplog.text


async def test_the_session_store_and_the_throttle_share_one_redis_client(app: Quart) -> None:
    async with app.app_context():
        store = get_store()
        assert isinstance(store, RedisStore)
        throttle_store = get_throttle().store
        assert isinstance(throttle_store, RedisThrottleStore)
        assert store._redis is throttle_store._redis


async def test_anonymous_pages_do_not_need_redis(client: Client, proxy: TcpProxy) -> None:
    await proxy.stop()
    assert (await client.get("/login")).status_code == 200


@pytest.mark.parametrize("cookie", ["not an id", "A" * 44, "A" * 42, "é" * 43])
async def test_a_cookie_that_cannot_be_an_id_is_deleted_without_asking_redis(
    app: Quart, proxy: TcpProxy, cookie: str
) -> None:
    await proxy.stop()
    response = await replay(app, cookie).get("/login")
    assert response.status_code == 200
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["max-age"] == "0"


async def test_health_names_the_session_store_when_it_is_down(
    client: Client, proxy: TcpProxy
) -> None:
    await proxy.stop()
    async with asyncio.timeout(HANG_GUARD):
        response = await client.get("/healthz")
    assert response.status_code == 503
    checks = (await response.get_json())["checks"]
    assert (checks["sessions"], checks["throttle"]) == ("down", "down")


async def test_sessions_work_again_when_redis_returns_without_a_restart(
    app: Quart, client: Client, user: User, proxy: TcpProxy
) -> None:
    cookie = await log_in(app, client, user)
    await proxy.stop()
    assert (await replay(app, cookie).get("/profile")).status_code == 503
    await proxy.start()
    assert (await replay(app, cookie).get("/profile")).status_code == 200


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "logged-in"])
async def test_a_write_redis_cannot_take_is_a_503_page_not_the_views_success(
    app: Quart, client: Client, user: User, proxy: TcpProxy, logged_in: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    @app.get("/cart")
    async def cart() -> str:
        session["cart"] = [1, 2]
        await proxy.stop()  # after the record was read, before it is written
        return "saved"

    if logged_in:
        await log_in(app, client, user)
    async with asyncio.timeout(HANG_GUARD):
        response = await client.get("/cart")
    # An anonymous visitor's first write asks the per-address counter first.
    await assert_store_unavailable_page(response, SESSIONS_DOWN if logged_in else THROTTLE_DOWN)
    assert "saved" not in await response.get_data(as_text=True)
    assert set_cookie_headers(response) == []
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "unavailable" in caplog.text
