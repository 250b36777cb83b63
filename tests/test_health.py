"""Health checks and database outages: 503 with a log line, then recovery by itself."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import event
from time_machine import TimeMachineFixture

from quart_app.health import FRESH_FOR
from quart_app.users import User, UserStore

from .conftest import AuthActions, fresh_postgres_database
from .outage import ProxyOutage, SqliteOutage, TcpProxy, proxied

PROXY = pytest.StashKey[TcpProxy]()

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


pytestmark = pytest.mark.both_databases


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLite in a folder of its own (an outage moves it away); PostgreSQL through a proxy."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()
        yield f"sqlite:///{tmp_path / 'db' / 'users.db'}"
        return
    async with fresh_postgres_database() as fresh, proxied(fresh) as (url, proxy):
        request.node.stash[PROXY] = proxy
        yield url


@pytest.fixture
def database_outage(
    request: pytest.FixtureRequest, store: UserStore, tmp_path: Path
) -> SqliteOutage | ProxyOutage:
    """An outage of this test's database, started and ended by the test."""
    if PROXY in request.node.stash:
        return ProxyOutage(request.node.stash[PROXY])
    return SqliteOutage(store, tmp_path / "db")


async def test_healthy(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {
        "status": "ok", "checks": {"app": "ok", "database": "ok", "sessions": "ok",
                                   "throttle": "ok"}}


async def test_database_down_is_503_naming_it(
    client: Client, database_outage: SqliteOutage | ProxyOutage
) -> None:
    await database_outage.start()
    response = await client.get("/healthz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "down"


async def test_health_recovers_when_the_database_returns(
    client: Client, database_outage: SqliteOutage | ProxyOutage, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(START, tick=False)
    await database_outage.start()
    assert (await client.get("/healthz")).status_code == 503
    await database_outage.end()
    time_machine.shift(FRESH_FOR)
    assert (await client.get("/healthz")).status_code == 200


async def test_an_outage_shows_once_the_last_answer_is_a_second_old(
    client: Client, database_outage: SqliteOutage | ProxyOutage, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(START, tick=False)
    assert (await client.get("/healthz")).status_code == 200
    await database_outage.start()
    time_machine.shift(FRESH_FOR)
    assert (await client.get("/healthz")).status_code == 503


async def test_concurrent_checks_share_one_database_probe(
    client: Client, store: UserStore, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(START, tick=False)
    statements: list[str] = []
    event.listen(store.engine.sync_engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    responses = await asyncio.gather(*(client.get("/healthz") for _ in range(200)))
    assert {response.status_code for response in responses} == {200}
    assert len(statements) == 2  # one round: the users database, the throttle's counters in it


async def test_pages_get_a_503_page_and_a_log_line_during_an_outage(
    app: Quart, auth: AuthActions, user: User, database_outage: SqliteOutage | ProxyOutage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await auth.login()
    await database_outage.start()
    response = await auth.client.get("/profile")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "not answering" in await response.get_data(as_text=True)
    assert "database unavailable" in caplog.text
    await database_outage.end()
    assert (await auth.client.get("/profile")).status_code == 200


async def test_login_during_an_outage_is_503_not_500(
    auth: AuthActions, user: User, database_outage: SqliteOutage | ProxyOutage
) -> None:
    token = await auth.token()
    await database_outage.start()
    form = {"username": "alice", "password": "correct horse battery", "csrf_token": token}
    assert (await auth.client.post("/login", form=form)).status_code == 503
