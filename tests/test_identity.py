"""The per-request user check when two workers disagree: a stale cache never logs anyone out."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from quart import Quart

from quart_app.users import User, get_store

from .conftest import PASSWORD, AuthActions, jar_cookie, replay, started_app
from .sessions.test_backends import on_backend

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(params=["cookie", "redis"])
async def config(
    request: pytest.FixtureRequest, config: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Both workers on one backend, with a user cache that stays fresh for a whole minute."""
    async with on_backend(request.param, {**config, "USER_CACHE_TTL": 60}) as configured:
        yield configured


@pytest.fixture
async def other_worker(config: dict[str, Any]) -> AsyncIterator[Quart]:
    """A second app on the same database and session store, with a user cache of its own."""
    async with started_app(config) as app:
        yield app


async def test_a_session_newer_than_the_cached_user_is_read_again_not_refused(
    app: Quart, other_worker: Quart, auth: AuthActions, user: User,
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    time_machine.move_to(datetime.now(UTC), tick=False)  # the cache cannot expire meanwhile
    await auth.login()
    assert (await replay(other_worker, jar_cookie(auth.client)).get("/profile")).status_code == 200
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
            "csrf_token": await auth.token("/account/password")}
    assert (await auth.client.post("/account/password", form=form)).status_code == 303
    after = replay(other_worker, jar_cookie(auth.client))
    assert (await after.get("/profile")).status_code == 200
    assert (await after.get("/profile")).status_code == 200  # and the session was not ended


async def test_a_session_older_than_the_cached_user_is_refused(
    app: Quart, other_worker: Quart, auth: AuthActions, user: User,
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    time_machine.move_to(datetime.now(UTC), tick=False)
    await auth.login()
    old = jar_cookie(auth.client)
    async with other_worker.app_context():
        await get_store().bump_session_version(user.id, "ended-elsewhere")
    assert (await replay(other_worker, old).get("/profile")).status_code == 302
