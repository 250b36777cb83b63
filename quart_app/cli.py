"""Operator commands: ``quart --app quart_app users …``, ``sessions …`` and ``db init``.

Every change goes through the same ``identity`` verbs as the pages, so it ends
the same sessions and is audited the same way (with ``actor=cli``).
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable

import click
from quart import Quart
from quart.cli import AppGroup, ScriptInfo, pass_script_info

from . import identity
from .devices import device_in_words
from .passwords import password_problem
from .sessions import SessionBackend, get_backend
from .templating import utc_time
from .users import User, UsernameTakenError, UserStore, get_store, username_problem

users_cli = AppGroup("users", help="Create, list, delete accounts and set passwords.")
db_cli = AppGroup("db", help="Database maintenance.")
sessions_cli = AppGroup("sessions", help="List and end one user's sessions.")

password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


def run_with_store[T](info: ScriptInfo, action: Callable[[UserStore], Awaitable[T]]) -> T:
    """Run one store action in the app's context, with the schema in place."""

    async def run() -> T:
        app = info.load_app()
        async with app.app_context():
            store = get_store()
            try:
                await store.create_schema()
                return await action(store)
            finally:
                await store.close()

    return asyncio.run(run())


def run_with_sessions[T](
    info: ScriptInfo, action: Callable[[UserStore, SessionBackend], Awaitable[T]],
) -> T:
    """Like ``run_with_store``, with the session backend open too."""

    async def with_sessions(store: UserStore) -> T:
        backend = get_backend()
        await backend.open()
        try:
            return await action(store, backend)
        finally:
            await backend.close()

    return run_with_store(info, with_sessions)


def read_new_password(from_stdin: bool) -> str:
    """Ask twice at a prompt, or take one line from stdin for scripts; enforce the policy."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if problem := password_problem(password):
        raise click.ClickException(problem)
    return password


@users_cli.command("create")
@click.argument("username")
@password_stdin
@pass_script_info
def create_user(info: ScriptInfo, username: str, password_stdin: bool) -> None:
    """Create an account."""
    if problem := username_problem(username):
        raise click.ClickException(problem)
    password = read_new_password(password_stdin)

    async def create(store: UserStore) -> User:
        try:
            return await identity.create_account(username, password)
        except UsernameTakenError:
            raise click.ClickException(f"user {username!r} already exists") from None

    user = run_with_store(info, create)
    click.echo(f"created user {user.username} (id {user.id})")


@users_cli.command("delete")
@click.argument("username")
@pass_script_info
def delete_user(info: ScriptInfo, username: str) -> None:
    """Delete an account and end every session of it."""
    if run_with_sessions(info, lambda store, backend: identity.remove_account(username)) is None:
        raise click.ClickException(f"no user {username!r}")
    click.echo(f"deleted user {username}")


@users_cli.command("list")
@pass_script_info
def list_users(info: ScriptInfo) -> None:
    """List accounts, one per line: id, name, session version."""
    for user in run_with_store(info, UserStore.list_users):
        click.echo(f"{user.id}\t{user.username}\t{user.session_version}")


@users_cli.command("set-password")
@click.argument("username")
@password_stdin
@pass_script_info
def set_password(info: ScriptInfo, username: str, password_stdin: bool) -> None:
    """Change a password and log that user out everywhere."""
    password = read_new_password(password_stdin)
    user = run_with_sessions(info,
                             lambda store, backend: identity.set_password(username, password))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    click.echo(f"password changed for {user.username}; all their sessions have ended")


@db_cli.command("init")
@pass_script_info
def init_db(info: ScriptInfo) -> None:
    """Create the tables (the server also does this), and rebuild a legacy users table."""

    async def stop_reusing_ids(store: UserStore) -> bool:
        if not await store.reuses_ids():
            return False
        await store.stop_reusing_ids()
        return True

    if run_with_store(info, stop_reusing_ids):
        click.echo("users table rebuilt: the ids of deleted accounts are never given again")
    click.echo("database ready")


@sessions_cli.command("list")
@click.argument("username")
@pass_script_info
def list_sessions(info: ScriptInfo, username: str) -> None:
    """List a user's sessions: handle, logged in, last active, device, address."""

    async def listing(store: UserStore, backend: SessionBackend) -> list[str] | None:
        user = await store.find(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        stored = await backend.user_sessions(user.id)
        if stored is None:
            return None
        return ["\t".join((s.handle, utc_time(s.started), utc_time(s.last_seen),
                           device_in_words(s.user_agent), s.address)) for s in stored]

    lines = run_with_sessions(info, listing)
    if lines is None:
        click.echo("sessions live in signed cookies (SESSION_BACKEND=cookie) and cannot be "
                   f"listed; `quart sessions revoke {username}` ends them all")
        return
    for line in lines:
        click.echo(line)


@sessions_cli.command("revoke")
@click.argument("username")
@click.argument("handle", required=False)
@pass_script_info
def revoke_sessions(info: ScriptInfo, username: str, handle: str | None) -> None:
    """End one session (by the handle ``list`` shows) or, without one, all of them."""

    async def revoke(store: UserStore, backend: SessionBackend) -> str:
        user = await store.find(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        if handle is not None:
            if not await identity.end_user_session(user, handle):
                raise click.ClickException(f"no session {handle!r} of {username}")
            return f"ended session {handle} of {username}"
        ended = await identity.end_every_session(user)
        return f"ended every session of {username} ({ended} stored)"

    click.echo(run_with_sessions(info, revoke))


def init_app(app: Quart) -> None:
    """Make the command groups available to ``quart --app quart_app``."""
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(sessions_cli)
