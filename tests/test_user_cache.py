"""The per-worker memory of users: fresh for USER_CACHE_TTL seconds, forgotten on change."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from quart import Quart

from quart_app.passwords import PasswordHasher
from quart_app.user_cache import MAX_ENTRIES, UserCache
from quart_app.users import User, UserStore, build_store

from .conftest import PASSWORD, AuthActions

ALICE = User(1, "alice", 1)
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine: time_machine.TimeMachineFixture) -> time_machine.TimeMachineFixture:
    time_machine.move_to(START, tick=False)
    return time_machine


def test_nothing_is_known_at_first() -> None:
    assert UserCache(ttl=1).lookup(1) == (False, None)


@pytest.mark.parametrize(
    ("ttl", "elapsed", "expected"),
    [
        pytest.param(1, 0.0, (True, ALICE), id="fresh"),
        pytest.param(1, 0.999, (True, ALICE), id="just-before-ttl"),
        pytest.param(1, 1.0, (False, None), id="at-ttl"),
        pytest.param(1, -5.0, (False, None), id="clock-went-back"),
        pytest.param(0, 0.0, (False, None), id="ttl-zero-remembers-nothing"),
    ],
)
def test_answers_live_for_the_ttl(
    clock: time_machine.TimeMachineFixture, ttl: float, elapsed: float,
    expected: tuple[bool, User | None],
) -> None:
    cache = UserCache(ttl=ttl)
    cache.remember(1, ALICE)
    clock.shift(timedelta(seconds=elapsed))
    assert cache.lookup(1) == expected


def test_a_missing_user_is_remembered_as_missing(clock: time_machine.TimeMachineFixture) -> None:
    cache = UserCache(ttl=1)
    cache.remember(1, None)
    assert cache.lookup(1) == (True, None)


def test_forget_drops_one_user(clock: time_machine.TimeMachineFixture) -> None:
    cache = UserCache(ttl=1)
    cache.remember(1, ALICE)
    cache.remember(2, User(2, "bob", 1))
    cache.forget(1)
    assert cache.lookup(1) == (False, None)
    assert cache.lookup(2)[0] is True


def test_memory_is_bounded(clock: time_machine.TimeMachineFixture) -> None:
    cache = UserCache(ttl=60)
    for user_id in range(MAX_ENTRIES + 1):
        cache.remember(user_id, None)
    assert cache.lookup(0) == (False, None)
    assert cache.lookup(MAX_ENTRIES)[0] is True


async def test_a_change_made_by_another_worker_counts_within_the_ttl(
    app: Quart, auth: AuthActions, store: UserStore, user: User,
    clock: time_machine.TimeMachineFixture,
) -> None:
    await auth.login()
    assert (await auth.client.get("/profile")).status_code == 200
    other_worker = build_store(app.config["DATABASE_URL"],
                               PasswordHasher(app.config["PASSWORD_HASH_PARAMETERS"]))
    try:
        await other_worker.set_password("alice", PASSWORD + " changed")
    finally:
        await other_worker.close()
    clock.shift(timedelta(seconds=app.config["USER_CACHE_TTL"]))
    assert (await auth.client.get("/profile")).status_code == 302
