"""The user store: accounts, logins, session versions, rehashing.

The store's tests run against SQLite and against a real PostgreSQL.
"""

import asyncio
import sys
import time

import pytest
from argon2 import PasswordHasher as Argon2

from quart_app.users import (
    UsernameTakenError,
    UserStore,
    build_store,
    username_problem,
    users_table,
)

from .conftest import PASSWORD

pytestmark = pytest.mark.both_databases


async def test_create_then_find_case_insensitively(store: UserStore) -> None:
    created = await store.create("Alice", PASSWORD)
    found = await store.find("aLiCe")
    assert found == created
    assert found is not None
    assert found.username == "Alice"


async def test_names_are_unique_regardless_of_case(store: UserStore) -> None:
    await store.create("alice", PASSWORD)
    with pytest.raises(UsernameTakenError):
        await store.create("ALICE", PASSWORD)


async def test_password_is_stored_hashed(store: UserStore) -> None:
    await store.create("alice", PASSWORD)
    async with store.engine.connect() as conn:
        stored = (await conn.execute(users_table.select())).one().password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_authenticate_accepts_only_the_right_password(store: UserStore) -> None:
    user = await store.create("alice", PASSWORD)
    assert await store.authenticate("alice", PASSWORD) == user
    assert await store.authenticate("alice", PASSWORD + "!") is None
    assert await store.authenticate("bob", PASSWORD) is None


async def test_set_password_bumps_the_session_version(store: UserStore) -> None:
    user = await store.create("alice", PASSWORD)
    changed = await store.set_password("alice", "another long passphrase",
                                       ending="password-changed")
    assert changed is not None
    assert changed.session_version == user.session_version + 1
    assert await store.authenticate("alice", "another long passphrase") == changed
    assert await store.authenticate("alice", PASSWORD) is None


@pytest.mark.config(PASSWORD_HASH_PARAMETERS=None)
async def test_login_rehashes_weaker_hashes(store: UserStore) -> None:
    await store.create("alice", PASSWORD)
    weak = Argon2(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with store.engine.begin() as conn:
        await conn.execute(users_table.update().values(password_hash=weak))
    assert await store.authenticate("alice", PASSWORD) is not None
    async with store.engine.connect() as conn:
        stored = (await conn.execute(users_table.select())).one().password_hash
    assert stored != weak
    assert not store.hasher.needs_rehash(stored)


async def test_delete_and_list(store: UserStore) -> None:
    await store.create("bob", PASSWORD)
    await store.create("alice", PASSWORD)
    assert [u.username for u in await store.list_users()] == ["alice", "bob"]
    assert await store.delete("BOB")
    assert not await store.delete("bob")
    assert [u.username for u in await store.list_users()] == ["alice"]


@pytest.mark.parametrize("name", ["a", "alice", "a.b-c_d", "A" * 64, "0"])
def test_good_usernames(name: str) -> None:
    assert username_problem(name) is None


@pytest.mark.parametrize("name", ["", "a" * 65, "a b", "ä", "a/b", "a\n", "<x>"])
def test_bad_usernames(name: str) -> None:
    assert username_problem(name) is not None


CREATE_SCHEMA = """
import asyncio, sys, time
from quart_app.users import build_store

async def main():
    store = build_store(sys.argv[1])
    await store.ping()
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start at the same instant
    await store.create_schema()
    await store.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("round_", range(3))
async def test_schema_creation_is_safe_when_workers_start_together(
    database: str, round_: int
) -> None:
    url = database.replace("sqlite://", "sqlite+aiosqlite://", 1).replace(
        "postgresql://", "postgresql+asyncpg://", 1)
    start = str(time.time() + 2)
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", CREATE_SCHEMA, url, start,
                                             stderr=asyncio.subprocess.PIPE)
        for _ in range(3)
    ]
    results = await asyncio.gather(*(worker.communicate() for worker in workers))
    assert [w.returncode for w in workers] == [0, 0, 0], [err for _, err in results]
    store = build_store(url)
    try:
        assert await store.list_users() == []
    finally:
        await store.close()
