"""Operator commands: ``quart --app quart_app users …`` and ``quart --app quart_app db init``."""

import asyncio
import sys
from collections.abc import Awaitable, Callable

import click
from quart import Quart
from quart.cli import AppGroup, ScriptInfo, pass_script_info

from .passwords import password_problem
from .users import User, UsernameTakenError, UserStore, get_store, username_problem

users_cli = AppGroup("users", help="Create, list, delete accounts and set passwords.")
db_cli = AppGroup("db", help="Database maintenance.")

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
    """Create the tables (the server also does this at start-up)."""

    async def nothing(store: UserStore) -> None:
        return None

    run_with_store(info, nothing)
    click.echo("database ready")


def init_app(app: Quart) -> None:
    """Make the command groups available to ``quart --app quart_app``."""
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
