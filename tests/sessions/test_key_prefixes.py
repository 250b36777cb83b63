"""Two apps on one Redis with different ``SESSION_KEY_PREFIX`` values are two services.

They share the Redis server, the users database and even the secret key, so
the prefix is the only thing that separates them. The second prefix extends
the first (``test:…:`` and ``test:…:other:``): a store that matched keys by
pattern instead of by exact name would leak here first.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from redis.asyncio import Redis

from quart_app.users import User, get_store

from ..conftest import (
    PASSWORD,
    AuthActions,
    fresh_redis_prefix,
    jar_cookie,
    replay,
    started_app,
)


@pytest.fixture
async def two_apps(config: dict[str, Any]) -> AsyncIterator[tuple[Quart, Quart, Redis]]:
    """One app on ``prefix``, one on ``prefix + "other:"``: same Redis, database and key."""
    async with fresh_redis_prefix() as (url, prefix):
        shared = {**config, "SESSION_BACKEND": "redis", "REDIS_URL": url}
        async with (
            started_app({**shared, "SESSION_KEY_PREFIX": prefix}) as one,
            started_app({**shared, "SESSION_KEY_PREFIX": prefix + "other:"}) as other,
        ):
            admin = Redis.from_url(url, decode_responses=True)
            try:
                yield one, other, admin
            finally:
                await admin.aclose()


@pytest.fixture
async def alice(two_apps: tuple[Quart, Quart, Redis]) -> User:
    one, _, _ = two_apps
    async with one.app_context():
        return await get_store().create("alice", PASSWORD)


async def test_a_session_of_one_app_is_an_anonymous_visitor_on_the_other(
    two_apps: tuple[Quart, Quart, Redis], alice: User,
) -> None:
    one, other, _ = two_apps
    auth = AuthActions(one.test_client())
    assert (await auth.login()).status_code == 303
    cookie = jar_cookie(auth.client)
    assert (await replay(one, cookie).get("/profile")).status_code == 200
    assert (await replay(other, cookie).get("/profile")).status_code == 302


async def test_the_other_apps_sessions_page_does_not_list_this_apps_sessions(
    two_apps: tuple[Quart, Quart, Redis], alice: User,
) -> None:
    one, other, _ = two_apps
    assert (await AuthActions(one.test_client()).login()).status_code == 303
    elsewhere = AuthActions(other.test_client())
    assert (await elsewhere.login()).status_code == 303
    page = await (await elsewhere.client.get("/sessions")).get_data(as_text=True)
    assert page.count('<li class="session') == 1
    assert '<li class="session current">' in page


async def test_logging_out_on_one_app_leaves_the_other_apps_session_alive(
    two_apps: tuple[Quart, Quart, Redis], alice: User,
) -> None:
    one, other, _ = two_apps
    here, there = AuthActions(one.test_client()), AuthActions(other.test_client())
    assert (await here.login()).status_code == 303
    assert (await there.login()).status_code == 303
    assert (await here.logout()).status_code == 303
    assert (await there.client.get("/profile")).status_code == 200


async def test_each_app_writes_only_under_its_own_prefix(
    two_apps: tuple[Quart, Quart, Redis], alice: User,
) -> None:
    one, other, admin = two_apps
    prefix = one.config["SESSION_KEY_PREFIX"]
    other_prefix = other.config["SESSION_KEY_PREFIX"]
    visitor = AuthActions(other.test_client())
    await visitor.login()
    await AuthActions(other.test_client()).login(password="not the password at all")
    # The README's key names: <prefix>s:<id> records, <prefix>u:<user id>, <prefix>throttle:…
    assert await admin.exists(f"{other_prefix}s:{jar_cookie(visitor.client)}",
                              f"{other_prefix}u:{alice.id}") == 2
    keys = [key async for key in admin.scan_iter(match=f"{prefix}*")]
    assert any(key.startswith(f"{other_prefix}throttle:") for key in keys), keys
    assert all(key.startswith(other_prefix) for key in keys), keys
