"""Two Hypercorn instances from ``hypercorn.toml``, one Redis, one PostgreSQL: one service."""

import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from .conftest import PASSWORD, SECRET_KEY, fresh_postgres_database, fresh_redis_prefix
from .live_server import LiveServer, create_user, live_server, run_cli
from .test_server import Visitor

pytestmark = pytest.mark.server


@contextlib.asynccontextmanager
async def two_instances(
    tmp_path: Path, extra: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """A and B: separate processes and instance folders, the same key, Redis and database."""
    async with fresh_postgres_database() as database, fresh_redis_prefix() as (redis, prefix):
        shared = {
            "QUART_SECRET_KEY": SECRET_KEY, "QUART_SESSION_BACKEND": "redis",
            "QUART_REDIS_URL": redis, "QUART_SESSION_KEY_PREFIX": prefix,
            "QUART_DATABASE_URL": database, "QUART_USER_CACHE_TTL": "0", **(extra or {}),
        }
        async with (
            live_server(tmp_path / "a", shared) as a,
            live_server(tmp_path / "b", shared) as b,
        ):
            yield a, b


async def login(server: LiveServer) -> Visitor:
    visitor = Visitor(server)
    response = await visitor.submit("/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 303
    return visitor


def on(server: LiveServer, cookie: str | None) -> Visitor:
    """The same browser cookie, sent to another instance."""
    visitor = Visitor(server)
    visitor.cookie = cookie
    return visitor


async def test_a_session_from_a_works_on_b_and_logout_on_b_ends_it_on_a(tmp_path: Path) -> None:
    async with two_instances(tmp_path) as (a, b):
        await create_user(a, "alice", PASSWORD)
        on_a = await login(a)
        cookie = on_a.cookie
        on_b = on(b, cookie)
        profile = await on_b.request("GET", "/profile")
        assert profile.status_code == 200
        assert "alice" in profile.text
        assert (await on_b.submit("/logout", {}, page="/profile")).status_code == 303
        assert (await on(a, cookie).request("GET", "/profile")).status_code == 302


async def test_a_password_changed_on_b_ends_the_sessions_used_on_a(tmp_path: Path) -> None:
    async with two_instances(tmp_path) as (a, b):
        await create_user(a, "alice", PASSWORD)
        on_a, on_b = await login(a), await login(b)
        assert (await on_a.request("GET", "/profile")).status_code == 200
        new = "a brand new passphrase"
        changed = await on_b.submit("/account/password",
                                    {"current": PASSWORD, "password": new, "confirm": new})
        assert changed.status_code == 303
        assert changed.headers["Location"] == "/account/password?changed"
        assert (await on_b.request("GET", "/profile")).status_code == 200
        assert (await on(a, on_a.cookie).request("GET", "/profile")).status_code == 302


async def test_a_password_set_by_the_operator_on_b_ends_the_sessions_used_on_a(
    tmp_path: Path,
) -> None:
    async with two_instances(tmp_path) as (a, b):
        await create_user(a, "alice", PASSWORD)
        on_a = await login(a)
        assert (await on_a.request("GET", "/profile")).status_code == 200
        await run_cli(b, "users", "set-password", "alice", "--password-stdin",
                      stdin="a brand new passphrase")
        assert (await on(a, on_a.cookie).request("GET", "/profile")).status_code == 302


async def test_right_after_a_password_change_the_other_instance_keeps_the_browser_logged_in(
    tmp_path: Path,
) -> None:
    # B remembers alice for a whole minute, so its cache is stale every round, not by chance.
    async with two_instances(tmp_path, {"QUART_USER_CACHE_TTL": "60"}) as (a, b):
        await create_user(a, "alice", PASSWORD)
        browser = await login(a)
        passwords = [PASSWORD] + [f"passphrase number {n}" for n in range(5)]
        for current, new in itertools.pairwise(passwords):
            assert (await on(b, browser.cookie).request("GET", "/profile")).status_code == 200
            changed = await browser.submit("/account/password",
                                           {"current": current, "password": new, "confirm": new})
            assert changed.status_code == 303
            assert (await on(b, browser.cookie).request("GET", "/profile")).status_code == 200
            assert (await browser.request("GET", "/profile")).status_code == 200
