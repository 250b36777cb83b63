"""Password policy and hashing: argon2id at the documented cost, off the loop, bounded."""

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable

import pytest
from argon2 import Parameters, Type, extract_parameters
from argon2 import PasswordHasher as Argon2
from quart import Quart

from quart_app.passwords import HashingBusyError, PasswordHasher, normalise, password_problem
from quart_app.users import UserStore, users_table

from .conftest import PASSWORD, AuthActions

# What the README promises: argon2id, RFC 9106 low-memory profile, t=3, 64 MiB, p=4.
DOCUMENTED_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"
CHEAP = Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1,
                   memory_cost=8, parallelism=1)


@pytest.mark.parametrize("password", ["x" * 12, "x" * 128, "correct 🐎 battery", "  spaces  ok  "])
def test_acceptable_passwords(password: str) -> None:
    assert password_problem(password) is None


@pytest.mark.parametrize(
    "password", ["", "x" * 11, "x" * 129, "tab\tinside password", "nul\x00inside password"]
)
def test_unacceptable_passwords(password: str) -> None:
    assert password_problem(password) is not None


def test_compatibility_forms_are_the_same_password() -> None:
    assert normalise("ﬁnest passphrase") == normalise("finest passphrase")


async def test_hash_is_argon2id_at_the_documented_cost_and_verifies() -> None:
    hasher = PasswordHasher()
    password_hash = await hasher.hash(PASSWORD)
    assert password_hash.startswith(DOCUMENTED_PREFIX)
    assert await hasher.verify(password_hash, PASSWORD)
    assert not await hasher.verify(password_hash, PASSWORD + "!")


async def test_hashing_applies_nfkc_before_argon2() -> None:
    password_hash = await PasswordHasher(CHEAP).hash("ﬁnest passphrase")
    assert Argon2().verify(password_hash, "finest passphrase")


@pytest.mark.parametrize("stored", ["", "plaintext", "$argon2id$v=19$garbage"])
async def test_malformed_stored_hash_is_a_mismatch(stored: str) -> None:
    assert not await PasswordHasher(CHEAP).verify(stored, PASSWORD)


async def loop_turns_during(work: Awaitable[object]) -> int:
    """How many times the event loop ran other code while ``work`` was in progress."""
    turns = 0
    task = asyncio.ensure_future(work)
    while not task.done():
        await asyncio.sleep(0)
        turns += 1
    await task
    return turns


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return Argon2().hash(PASSWORD)


async def test_hashing_leaves_the_event_loop_running() -> None:
    assert await loop_turns_during(PasswordHasher().hash(PASSWORD)) > 10


@pytest.mark.parametrize("password", [PASSWORD, "wrong password!"])
async def test_verification_leaves_the_event_loop_running(stored_hash: str, password: str) -> None:
    assert await loop_turns_during(PasswordHasher().verify(stored_hash, password)) > 10


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("argon2")]


async def test_a_worker_hashes_on_at_most_its_concurrency_threads() -> None:
    hasher = PasswordHasher(CHEAP, concurrency=2, max_waiting=10)
    before = set(pool_threads())
    try:
        await asyncio.gather(*(hasher.hash(f"password number {i}") for i in range(8)))
        assert len(set(pool_threads()) - before) == 2
    finally:
        hasher.close()


async def test_hashing_threads_run_at_a_lower_priority_than_the_loop() -> None:
    hasher = PasswordHasher(CHEAP)
    before = set(pool_threads())
    try:
        await hasher.hash(PASSWORD)
        [thread] = set(pool_threads()) - before
        assert thread.native_id is not None
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(19, loop_nice + 10)
    finally:
        hasher.close()


@contextlib.asynccontextmanager
async def pool_held(hasher: PasswordHasher) -> AsyncIterator[threading.Event]:
    """Keep the hasher's only thread busy until the event is set (or the block ends)."""
    release = threading.Event()
    holder = asyncio.ensure_future(hasher.offload(release.wait))
    await asyncio.sleep(0)  # one turn: the holder takes the free slot at once
    try:
        yield release
    finally:
        release.set()
        await holder


@pytest.fixture
async def held() -> AsyncIterator[tuple[PasswordHasher, threading.Event]]:
    """A one-thread hasher with a queue of one, its thread busy until the test says."""
    hasher = PasswordHasher(CHEAP, concurrency=1, max_waiting=1, max_wait=0.2)
    async with pool_held(hasher) as release:
        yield hasher, release
    hasher.close()


async def test_past_the_queue_a_hash_is_refused_at_once(
    held: tuple[PasswordHasher, threading.Event],
) -> None:
    hasher, _ = held
    waiting = asyncio.ensure_future(hasher.hash(PASSWORD))
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(HashingBusyError):
        await hasher.hash(PASSWORD)
    assert time.monotonic() - started < 0.1
    with pytest.raises(HashingBusyError):
        await waiting


async def test_a_wait_for_the_pool_is_bounded(
    held: tuple[PasswordHasher, threading.Event],
) -> None:
    hasher, _ = held
    with pytest.raises(HashingBusyError):
        await asyncio.wait_for(hasher.verify("$argon2id$", PASSWORD), timeout=5)


async def test_a_freed_pool_hashes_again(held: tuple[PasswordHasher, threading.Event]) -> None:
    hasher, release = held
    release.set()
    assert await hasher.verify(await hasher.hash(PASSWORD), PASSWORD)


def test_weaker_parameters_need_a_rehash() -> None:
    weak = Argon2(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert PasswordHasher().needs_rehash(weak)


# --- the app's hasher ---------------------------------------------------------------------


@pytest.mark.config(PASSWORD_HASH_PARAMETERS=None)
async def test_the_app_stores_hashes_at_the_documented_cost(store: UserStore) -> None:
    await store.create("alice", PASSWORD)
    async with store.engine.connect() as conn:
        stored = (await conn.execute(users_table.select())).one().password_hash
    assert stored.startswith(DOCUMENTED_PREFIX)


@pytest.mark.config(PASSWORD_HASH_PARAMETERS=None)
async def test_the_dummy_hash_is_made_at_start_up_at_the_same_cost(store: UserStore) -> None:
    assert store.hasher.dummy_hash is not None
    assert store.hasher.dummy_hash.startswith(DOCUMENTED_PREFIX)


async def test_the_dummy_hash_follows_configured_parameters(store: UserStore) -> None:
    assert store.hasher.dummy_hash is not None
    assert extract_parameters(store.hasher.dummy_hash).memory_cost == 8


@pytest.mark.config(PASSWORD_HASH_QUEUE=0)
@pytest.mark.parametrize("form_path", ["/login", "/register"])
async def test_a_full_hashing_queue_is_a_fast_503_with_retry_after(
    app: Quart, auth: AuthActions, store: UserStore, form_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    form = {"username": "alice", "password": PASSWORD, "confirm": PASSWORD,
            "csrf_token": await auth.token(form_path)}
    async with pool_held(store.hasher):
        response = await auth.client.post(form_path, form=form)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "Too many people are logging in" in await response.get_data(as_text=True)
    assert "password hashing queue full" in caplog.text
