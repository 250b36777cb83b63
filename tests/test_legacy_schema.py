"""A SQLite users table from before ids stopped being reused: found, and rebuilt by ``db init``.

Such a table gives a deleted account's id to the next one registered, and
with it the deleted user's cookies (a session names its user by id and
session version, and every account starts at version 1).
"""

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from quart_app import create_app

from .conftest import PASSWORD

# The users table as the releases before ids stopped being reused created it.
LEGACY_USERS_TABLE = """CREATE TABLE users (
    id INTEGER NOT NULL, username VARCHAR(64) NOT NULL, username_key VARCHAR(64) NOT NULL,
    password_hash VARCHAR(255) NOT NULL, session_version INTEGER DEFAULT 1 NOT NULL,
    created_at BIGINT NOT NULL, PRIMARY KEY (id), UNIQUE (username_key))"""


def legacy_database(tmp_path: Path, *names: str) -> None:
    """A users.db with the legacy table and these accounts (ids 1, 2, …)."""
    with contextlib.closing(sqlite3.connect(tmp_path / "users.db")) as db, db:
        db.execute(LEGACY_USERS_TABLE)
        for name in names:
            db.execute("INSERT INTO users (username, username_key, password_hash, created_at)"
                       " VALUES (?, ?, 'x', 0)", (name, name))


def test_db_init_rebuilds_a_legacy_users_table_so_ids_are_never_given_again(
    quart_cli: Any, tmp_path: Path,
) -> None:
    legacy_database(tmp_path, "alice", "bob")
    result = quart_cli("db", "init")
    assert result.exit_code == 0
    assert result.output == ("users table rebuilt: the ids of deleted accounts are never given "
                             "again\ndatabase ready\n")
    assert quart_cli("users", "list").output.splitlines() == ["1\talice\t1", "2\tbob\t1"]
    assert quart_cli("users", "delete", "bob").exit_code == 0
    assert quart_cli("users", "create", "carol", "--password-stdin", stdin=PASSWORD).exit_code == 0
    assert quart_cli("users", "list").output.splitlines() == ["1\talice\t1", "3\tcarol\t1"]


def test_db_init_leaves_a_current_users_table_alone(quart_cli: Any) -> None:
    assert quart_cli("db", "init").output == "database ready\n"
    assert quart_cli("db", "init").output == "database ready\n"


def test_serving_on_a_legacy_users_table_says_to_run_db_init(
    config: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    legacy_database(tmp_path, "alice")

    async def start() -> None:
        async with create_app(config).test_app():
            pass

    asyncio.run(start())
    assert "run `quart db init` once" in caplog.text
