"""The operator's ``quart users …`` and ``quart db init`` commands."""

import asyncio
import logging
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from quart.cli import QuartGroup

from quart_app import create_app
from quart_app.sessions import get_store as get_session_store
from quart_app.sessions.server_side import handle_of
from quart_app.users import get_store

from .conftest import PASSWORD, log_in, on_backend, replay

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.both_databases


def test_create_from_stdin_then_list(quart_cli: Any) -> None:
    created = quart_cli("users", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.exit_code == 0
    assert "created user alice" in created.output
    listed = quart_cli("users", "list")
    assert listed.output.splitlines() == ["1\talice\t1"]


def test_create_from_an_interactive_prompt(quart_cli: Any) -> None:
    result = quart_cli("users", "create", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0
    assert PASSWORD not in result.output


def test_create_refuses_a_taken_name(quart_cli: Any) -> None:
    quart_cli("users", "create", "alice", "--password-stdin", stdin=PASSWORD)
    result = quart_cli("users", "create", "ALICE", "--password-stdin", stdin=PASSWORD)
    assert result.exit_code == 1
    assert "already exists" in result.output


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [("bad name", PASSWORD, "Username must be"), ("alice", "short", "at least 12")],
)
def test_create_refuses_bad_input(quart_cli: Any, name: str, password: str, message: str) -> None:
    result = quart_cli("users", "create", name, "--password-stdin", stdin=password)
    assert result.exit_code == 1
    assert message in result.output


def test_delete(quart_cli: Any) -> None:
    quart_cli("users", "create", "alice", "--password-stdin", stdin=PASSWORD)
    assert quart_cli("users", "delete", "alice").exit_code == 0
    assert quart_cli("users", "list").output == ""


def test_delete_unknown_user_fails(quart_cli: Any) -> None:
    result = quart_cli("users", "delete", "nobody")
    assert result.exit_code == 1
    assert "no user 'nobody'" in result.output


def test_set_password_bumps_the_session_version(quart_cli: Any) -> None:
    quart_cli("users", "create", "alice", "--password-stdin", stdin=PASSWORD)
    result = quart_cli("users", "set-password", "alice", "--password-stdin",
                       stdin="a different passphrase")
    assert result.exit_code == 0
    assert quart_cli("users", "list").output.splitlines() == ["1\talice\t2"]


def test_set_password_for_unknown_user_fails(quart_cli: Any) -> None:
    result = quart_cli("users", "set-password", "nobody", "--password-stdin", stdin=PASSWORD)
    assert result.exit_code == 1


def test_db_init_creates_the_database(quart_cli: Any) -> None:
    result = quart_cli("db", "init")
    assert result.exit_code == 0
    assert result.output == "database ready\n"
    assert quart_cli("users", "list").output == ""


def test_the_installed_quart_command_finds_the_app(tmp_path: Path) -> None:
    env = {**os.environ, "QUART_INSTANCE_PATH": str(tmp_path / "instance")}
    quart = Path(sys.executable).parent / "quart"
    command = [str(quart), "--app", "quart_app", "users", "create", "alice", "--password-stdin"]
    created = subprocess.run(command, input=PASSWORD, env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "instance" / "users.db").exists()


def test_db_init_refuses_bad_config_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "QUART_INSTANCE_PATH": str(tmp_path), "QUART_SECRET_KEY": "short"}
    quart = Path(sys.executable).parent / "quart"
    result = subprocess.run([str(quart), "--app", "quart_app.asgi", "db", "init"], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("quart_app: configuration error: SECRET_KEY: is 5 bytes")


def test_db_init_with_a_set_key_creates_a_private_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "fresh" / "instance"
    env = {**os.environ, "QUART_INSTANCE_PATH": str(instance),
           "QUART_SECRET_KEY": "k" * 40}
    quart = Path(sys.executable).parent / "quart"
    result = subprocess.run([str(quart), "--app", "quart_app.asgi", "db", "init"], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (instance / "users.db").exists()
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert not (instance / "secret_key").exists()


# --- quart sessions … -----------------------------------------------------------------------


@pytest.fixture
async def redis_config(config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The test config on Redis, which the CLI process and the app share."""
    async with on_backend("redis", config) as configured:
        yield configured


async def run_cli_in_thread(config: dict[str, Any], *args: str,
                            stdin: str | None = None) -> Result:
    """``quart …`` in-process but off this event loop (the CLI runs its own)."""
    group = QuartGroup(create_app=lambda: create_app(config))
    return await asyncio.to_thread(CliRunner().invoke, group, list(args), input=stdin,
                                   catch_exceptions=False)


async def test_sessions_list_shows_each_session_of_the_user(redis_config: dict[str, Any]) -> None:
    app = create_app(redis_config)
    async with app.test_app(), app.app_context():
        alice = await get_store().create("alice", PASSWORD)
        await log_in(app, app.test_client(), alice)
        await log_in(app, app.test_client(), alice)
        result = await run_cli_in_thread(redis_config, "sessions", "list", "alice")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert all(len(line.split("\t")[0]) == 32 for line in lines)


async def test_sessions_revoke_one_ends_only_that_session(redis_config: dict[str, Any]) -> None:
    app = create_app(redis_config)
    async with app.test_app(), app.app_context():
        alice = await get_store().create("alice", PASSWORD)
        first = await log_in(app, app.test_client(), alice)
        second = await log_in(app, app.test_client(), alice)
        listed = await run_cli_in_thread(redis_config, "sessions", "list", "alice")
        handles = {line.split("\t")[0] for line in listed.output.splitlines()}
        ended = handle_of(first)
        assert ended in handles
        result = await run_cli_in_thread(redis_config, "sessions", "revoke", "alice", ended)
        assert result.exit_code == 0, result.output
        assert (await replay(app, first).get("/profile")).status_code == 302
        assert (await replay(app, second).get("/profile")).status_code == 200


@pytest.mark.parametrize("backend", ["cookie", "redis"])
async def test_sessions_revoke_without_an_id_ends_them_all_on_any_backend(
    config: dict[str, Any], backend: str
) -> None:
    async with on_backend(backend, config) as configured:
        app = create_app(configured)
        async with app.test_app(), app.app_context():
            alice = await get_store().create("alice", PASSWORD)
            cookie = await log_in(app, app.test_client(), alice)
            result = await run_cli_in_thread(configured, "sessions", "revoke", "alice")
            assert result.exit_code == 0, result.output
            assert result.output.startswith("ended every session of alice")
            assert (await replay(app, cookie).get("/profile")).status_code == 302


async def test_sessions_revoke_without_an_id_deletes_every_stored_record(
    redis_config: dict[str, Any],
) -> None:
    app = create_app(redis_config)
    async with app.test_app(), app.app_context():
        alice = await get_store().create("alice", PASSWORD)
        cookies = [await log_in(app, app.test_client(), alice) for _ in range(2)]
        result = await run_cli_in_thread(redis_config, "sessions", "revoke", "alice")
        assert result.exit_code == 0, result.output
        store = get_session_store()
        assert store is not None
        assert [await store.load(cookie) for cookie in cookies] == [None, None]
        assert await store.user_session_ids(alice.id) == []


@pytest.mark.parametrize("args", [("list", "nobody"), ("revoke", "nobody"),
                                  ("revoke", "alice", "0" * 32)])
async def test_sessions_commands_refuse_unknown_users_and_sessions(
    redis_config: dict[str, Any], args: tuple[str, ...]
) -> None:
    app = create_app(redis_config)
    async with app.test_app(), app.app_context():
        await get_store().create("alice", PASSWORD)
        result = await run_cli_in_thread(redis_config, "sessions", *args)
    assert result.exit_code == 1
    assert "no " in result.output


def test_sessions_list_on_the_cookie_backend_says_why_it_cannot(quart_cli: Any) -> None:
    quart_cli("users", "create", "alice", "--password-stdin", stdin=PASSWORD)
    result = quart_cli("sessions", "list", "alice")
    assert result.exit_code == 0
    assert result.output.startswith("sessions live in signed cookies")
    assert "quart sessions revoke alice" in result.output



@pytest.mark.parametrize("command", [("users", "set-password", "alice", "--password-stdin"),
                                     ("users", "delete", "alice")])
async def test_set_password_and_delete_remove_the_users_stored_records(
    redis_config: dict[str, Any], command: tuple[str, ...]
) -> None:
    app = create_app(redis_config)
    async with app.test_app(), app.app_context():
        alice = await get_store().create("alice", PASSWORD)
        cookies = [await log_in(app, app.test_client(), alice) for _ in range(2)]
        result = await run_cli_in_thread(redis_config, *command, stdin="a brand new passphrase")
        assert result.exit_code == 0, result.output
        store = get_session_store()
        assert store is not None
        assert [await store.load(cookie) for cookie in cookies] == [None, None]
        assert await store.user_session_ids(alice.id) == []


# --- the operator's actions are audited like the pages' ---------------------------------------

def cli_audit_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The audit records the commands wrote."""
    return [record.audit for record in caplog.records  # type: ignore[attr-defined]
            if record.name == "quart_app.audit"]


@pytest.mark.parametrize(("command", "stdin", "event"), [
    (("users", "create", "bob", "--password-stdin"), PASSWORD, "account.registered"),
    (("users", "set-password", "alice", "--password-stdin"), "a brand new passphrase",
     "password.changed"),
    (("users", "delete", "alice"), None, "account.deleted"),
    (("sessions", "revoke", "alice"), None, "sessions.all_ended"),
])
def test_each_account_command_writes_one_audit_record_with_actor_cli(
    quart_cli: Any, caplog: pytest.LogCaptureFixture, command: tuple[str, ...],
    stdin: str | None, event: str,
) -> None:
    quart_cli("users", "create", "alice", "--password-stdin", stdin=PASSWORD)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="quart_app.audit"):
        result = quart_cli(*command, stdin=stdin)
    assert result.exit_code == 0, result.output
    [record] = cli_audit_records(caplog)
    assert record["event"] == event
    assert record["actor"] == "cli"
    assert record["user_id"] == (2 if command[2] == "bob" else 1)
    assert "remote" not in record


async def test_revoking_one_session_from_the_cli_is_audited_with_actor_cli(
    redis_config: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(redis_config)
    async with app.test_app(), app.app_context():
        alice = await get_store().create("alice", PASSWORD)
        cookie = await log_in(app, app.test_client(), alice)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="quart_app.audit"):
            result = await run_cli_in_thread(redis_config, "sessions", "revoke", "alice",
                                             handle_of(cookie))
    assert result.exit_code == 0, result.output
    [record] = cli_audit_records(caplog)
    assert record["event"] == "session.revoked"
    assert record["actor"] == "cli"
    assert record["user_id"] == alice.id
    assert len(record["session"]) == 16
