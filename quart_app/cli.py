"""Operator commands: ``quart --app quart_app users …`` and ``quart --app quart_app db init``."""

import asyncio
import sys
from collections.abc import Awaitable, Callable

import click
from quart import Quart, current_app
from quart.cli import AppGroup, ScriptInfo, pass_script_info

from .devices import device_in_words
from .passwords import password_problem
from .sessions.policy import LAST_SEEN, LOGGED_IN_AT
from .sessions.server_side import ServerSideSessionInterface
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
    info: ScriptInfo,
    action: Callable[[UserStore, ServerSideSessionInterface | None], Awaitable[T]],
) -> T:
    """Like ``run_with_store``, with the server-side session store open (None: cookies)."""

    async def with_sessions(store: UserStore) -> T:
        interface = current_app.session_interface
        if not isinstance(interface, ServerSideSessionInterface):
            return await action(store, None)
        await interface.store.open()
        try:
            return await action(store, interface)
        finally:
            await interface.store.close()

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
            return await store.create(username, password)
        except UsernameTakenError:
            raise click.ClickException(f"user {username!r} already exists") from None

    user = run_with_store(info, create)
    click.echo(f"created user {user.username} (id {user.id})")


@users_cli.command("delete")
@click.argument("username")
@pass_script_info
def delete_user(info: ScriptInfo, username: str) -> None:
    """Delete an account; its sessions stop working at their next request."""
    if not run_with_store(info, lambda store: store.delete(username)):
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
    user = run_with_store(info, lambda store: store.set_password(username, password))
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

    async def listing(store: UserStore,
                      interface: ServerSideSessionInterface | None) -> list[str] | None:
        user = await store.find(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        if interface is None:
            return None
        return [
            "\t".join((s.handle, utc_time(s.data.get(LOGGED_IN_AT, 0)),
                       utc_time(s.data.get(LAST_SEEN, 0)),
                       device_in_words(s.meta.get("user_agent", "")), s.meta.get("address", "")))
            for s in await interface.stored_sessions(user.id)
        ]

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

    async def revoke(store: UserStore, interface: ServerSideSessionInterface | None) -> str:
        user = await store.find(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        if handle is not None:
            stored = await interface.stored_sessions(user.id) if interface else []
            match = next((s for s in stored if s.handle == handle), None)
            if match is None or interface is None:
                raise click.ClickException(f"no session {handle!r} of {username}")
            await interface.store.delete(match.session_id)
            return f"ended session {handle} of {username}"
        ended = await interface.store.delete_user_sessions(user.id) if interface else 0
        await store.bump_session_version(user.id)
        return f"ended every session of {username} ({ended} stored)"

    click.echo(run_with_sessions(info, revoke))


def init_app(app: Quart) -> None:
    """Make the command groups available to ``quart --app quart_app``."""
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(sessions_cli)
