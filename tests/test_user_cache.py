"""The per-worker memory of users: fresh for USER_CACHE_TTL seconds, forgotten on change."""

import asyncio
from datetime import timedelta

import pytest
import time_machine
from quart import Quart

from quart_app.passwords import PasswordHasher
from quart_app.user_cache import MAX_ENTRIES, UserCache
from quart_app.users import User, UserStore, build_store

from .conftest import PASSWORD, AuthActions

ALICE = User(1, "alice", 1)


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


class SlowLoad:
    """A database read that answers only when the test says so, counting its calls."""

    def __init__(self, answer: User | None = ALICE) -> None:
        self.answer = answer
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self, user_id: int) -> User | None:
        self.calls += 1
        await self.release.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_requests_that_miss_together_share_one_database_read() -> None:
    cache, load = UserCache(ttl=1), SlowLoad()
    waiting = [asyncio.create_task(cache.get(1, load)) for _ in range(37)]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*waiting) == [ALICE] * 37
    assert load.calls == 1


async def test_the_shared_read_is_remembered_for_the_next_request() -> None:
    cache, load = UserCache(ttl=1), SlowLoad()
    load.release.set()
    await cache.get(1, load)
    assert await cache.get(1, load) == ALICE
    assert load.calls == 1


async def test_a_failed_read_fails_every_request_waiting_on_it_and_is_not_remembered() -> None:
    cache, load = UserCache(ttl=1), SlowLoad(ConnectionError("database down"))  # type: ignore[arg-type]
    waiting = [asyncio.create_task(cache.get(1, load)) for _ in range(3)]
    await asyncio.sleep(0)
    load.release.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert cache.lookup(1) == (False, None)


async def test_a_user_forgotten_while_being_read_is_read_again() -> None:
    cache, stale = UserCache(ttl=1), SlowLoad()
    first = asyncio.create_task(cache.get(1, stale))
    await asyncio.sleep(0)
    cache.forget(1)  # this worker changed the user while the old row was being read
    fresh = SlowLoad(User(1, "alice", 2))
    fresh.release.set()
    async with asyncio.timeout(5):  # joining the stale read would wait for it forever
        assert await cache.get(1, fresh) == User(1, "alice", 2)
    stale.release.set()
    await first
    assert cache.lookup(1) == (True, User(1, "alice", 2))


async def test_a_request_that_gives_up_does_not_cancel_the_read_for_the_others() -> None:
    cache, load = UserCache(ttl=1), SlowLoad()
    leader = asyncio.create_task(cache.get(1, load))
    follower = asyncio.create_task(cache.get(1, load))
    await asyncio.sleep(0)
    leader.cancel()
    load.release.set()
    assert await follower == ALICE


async def test_a_change_made_by_another_worker_counts_within_the_ttl(
    app: Quart, auth: AuthActions, store: UserStore, user: User,
    clock: time_machine.TimeMachineFixture,
) -> None:
    await auth.login()
    assert (await auth.client.get("/profile")).status_code == 200
    other_worker = build_store(app.config["DATABASE_URL"],
                               PasswordHasher(app.config["PASSWORD_HASH_PARAMETERS"]))
    try:
        await other_worker.set_password("alice", PASSWORD + " changed", ending="password-changed")
    finally:
        await other_worker.close()
    clock.shift(timedelta(seconds=app.config["USER_CACHE_TTL"]))
    assert (await auth.client.get("/profile")).status_code == 302
