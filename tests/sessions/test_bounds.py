"""What server-side sessions may cost: per record, per user, per client address.

Run on the memory store and on a real Redis: a flood of anonymous writers
creates at most ``SESSION_NEW_PER_ADDRESS`` records, each at most
``SESSION_MAX_BYTES`` and living at most the idle timeout; one user keeps
at most ``SESSION_MAX_PER_USER`` logins, and ``/sessions`` pages them.
"""

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from quart import Quart, session
from redis.asyncio import Redis

from quart_app.sessions import get_store
from quart_app.users import User
from quart_app.users import get_store as get_users

from ..conftest import PASSWORD, AuthActions, log_in, replay
from .test_backends import on_backend

FLOOD = 30
LIMIT = 10
MAX_BYTES = 2048


@pytest.fixture(params=["memory", "redis"])
async def config(
    request: pytest.FixtureRequest, config: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Each server-side store, with small bounds a test can reach."""
    bounded = {"SESSION_NEW_PER_ADDRESS": [LIMIT, 3600], "SESSION_MAX_BYTES": MAX_BYTES,
               "SESSION_MAX_PER_USER": 3, **config}  # a test's own marker wins
    async with on_backend(request.param, bounded) as configured:
        yield configured


@pytest.fixture
async def alice(app: Quart) -> User:
    async with app.app_context():
        return await get_users().create("alice", PASSWORD)


async def records(app: Quart) -> dict[str, tuple[int, float]]:
    """Every anonymous or logged-in record: its size in bytes and seconds left to live."""
    if app.config["SESSION_BACKEND"] == "memory":
        async with app.app_context():
            store = get_store()
        entries = store._records  # type: ignore[union-attr]  # the memory store's own table
        return {sid: (len(e.record.encode()), e.expires_at - datetime.now(UTC).timestamp())
                for sid, e in entries.items()}
    redis = Redis.from_url(app.config["REDIS_URL"], decode_responses=True)
    try:
        keys = [k async for k in redis.scan_iter(f"{app.config['SESSION_KEY_PREFIX']}s:*")]
        return {key: (await redis.strlen(key), await redis.ttl(key)) for key in keys}
    finally:
        await redis.aclose()


def add_write_view(app: Quart) -> None:
    @app.get("/remember")
    async def remember() -> str:
        session["note"] = "x" * (MAX_BYTES - 200)
        return "kept"


async def test_a_flood_of_anonymous_writers_from_one_address_is_bounded(
    app: Quart, now: time_machine.TimeMachineFixture,
) -> None:
    add_write_view(app)
    statuses = [(await app.test_client().get("/remember")).status_code for _ in range(FLOOD)]
    assert statuses == [200] * LIMIT + [429] * (FLOOD - LIMIT)
    stored = await records(app)
    assert len(stored) == LIMIT
    assert all(size <= MAX_BYTES for size, _ in stored.values())
    assert all(0 < ttl <= timedelta(minutes=30).total_seconds() for _, ttl in stored.values())


async def test_the_refusal_says_what_happened_and_when_to_come_back(app: Quart) -> None:
    add_write_view(app)
    for _ in range(LIMIT):
        await app.test_client().get("/remember")
    response = await app.test_client().get("/remember")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert "Too many new visitor sessions from your network" in await response.get_data(
        as_text=True)


async def test_another_address_is_not_refused_by_one_addresss_flood(app: Quart) -> None:
    add_write_view(app)
    for _ in range(LIMIT + 1):
        await app.test_client().get("/remember")
    other = await app.test_client().get("/remember", scope_base={"client": ("203.0.113.7", 1)})
    assert other.status_code == 200


async def test_a_visitor_who_already_has_a_record_keeps_writing_past_the_limit(
    app: Quart,
) -> None:
    add_write_view(app)
    regular = app.test_client()
    assert (await regular.get("/remember")).status_code == 200
    for _ in range(LIMIT):
        await app.test_client().get("/remember")
    assert (await regular.get("/remember")).status_code == 200


async def test_a_page_view_creates_no_record(app: Quart) -> None:
    for path in ("/login", "/register", "/", "/logout"):
        await app.test_client().get(path)
    assert await records(app) == {}


async def test_past_the_per_user_bound_the_least_recently_active_login_ends(
    app: Quart, alice: User, now: time_machine.TimeMachineFixture,
) -> None:
    cookies = []
    for _ in range(5):
        cookies.append(await log_in(app, app.test_client(), alice))
        now.shift(timedelta(seconds=90))
    assert (await replay(app, cookies[0]).get("/profile")).status_code == 302
    async with app.app_context():
        assert len(await get_store().user_session_ids(alice.id)) == 3  # type: ignore[union-attr]
    assert [(await replay(app, c).get("/profile")).status_code for c in cookies[2:]] == [200] * 3


async def test_activity_decides_which_login_ends_not_age(
    app: Quart, alice: User, now: time_machine.TimeMachineFixture,
) -> None:
    oldest = await log_in(app, app.test_client(), alice)
    now.shift(timedelta(seconds=90))
    middle = await log_in(app, app.test_client(), alice)
    now.shift(timedelta(seconds=90))
    await log_in(app, app.test_client(), alice)
    now.shift(timedelta(seconds=90))
    assert (await replay(app, oldest).get("/profile")).status_code == 200  # now the most recent
    await log_in(app, app.test_client(), alice)
    assert (await replay(app, middle).get("/profile")).status_code == 302
    assert (await replay(app, oldest).get("/profile")).status_code == 200


@pytest.mark.config(SESSION_MAX_PER_USER=100)
async def test_the_sessions_page_shows_twenty_a_page(
    app: Quart, alice: User, now: time_machine.TimeMachineFixture,
) -> None:
    cookies = [await log_in(app, app.test_client(), alice) for _ in range(25)]
    viewer = replay(app, cookies[-1])
    first = await (await viewer.get("/sessions")).get_data(as_text=True)
    second = await (await viewer.get("/sessions?page=2")).get_data(as_text=True)
    assert len(re.findall(r'<li class="session', first)) == 20
    assert len(re.findall(r'<li class="session', second)) == 5
    assert 'href="/sessions?page=2" rel="next"' in first
    assert 'href="/sessions?page=1" rel="prev"' in second
    assert "25 sessions, page 1 of 2" in first


async def test_logging_out_is_never_refused_by_the_limit_on_new_sessions(
    app: Quart, alice: User,
) -> None:
    add_write_view(app)
    for _ in range(LIMIT):
        await app.test_client().get("/remember")
    assert (await app.test_client().get("/remember")).status_code == 429
    auth = AuthActions(app.test_client())
    await log_in(app, auth.client, alice)
    logged_out = await auth.logout()  # its "You are logged out." replaces the login's record
    assert logged_out.status_code == 303
    assert "You are logged out." in await (await auth.client.get("/logout")).get_data(
        as_text=True)


async def test_the_size_bound_counts_the_whole_stored_record_metadata_included(
    app: Quart,
) -> None:
    @app.get("/nearly-full")
    async def nearly_full() -> str:
        session["note"] = "x" * (MAX_BYTES - 150)  # fits alone, not with the device and address
        return "kept"

    response = await app.test_client().get("/nearly-full", headers={"User-Agent": "A" * 300})
    assert response.status_code == 500
    assert await records(app) == {}
