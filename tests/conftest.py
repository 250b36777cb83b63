"""Shared fixtures: a fresh app and database per test, a client, and an ``auth`` helper."""

import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import time_machine
from click.testing import CliRunner, Result
from quart import Quart
from quart.cli import QuartGroup
from quart.testing import QuartClient
from quart.typing import TestClientProtocol as Client

from quart_app import create_app
from quart_app.identity import login_user
from quart_app.redis_client import RedisBacked
from quart_app.users import User, UserStore, get_store

SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"
COOKIE = "__Host-session"
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Real argon2id at a cost a test can afford (start-up makes a dummy hash, most tests log in);
# tests about hashing itself use the production parameters (tests/test_passwords.py).
CHEAP_HASHING = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
# Where the ``clock`` fixture stops time.
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

pytest_plugins = ["tests.forbid_skips"]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep a developer's own QUART_* variables out of every test."""
    for key in list(os.environ):
        if key.startswith("QUART_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QUART_INSTANCE_PATH", str(tmp_path / "instance"))
    return


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """An empty PostgreSQL database of its own (``TEST_POSTGRES_URL`` names the server)."""
    try:
        admin = await asyncpg.connect(POSTGRES, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}: {error}")
    name = f"quart_app_test_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests marked ``both_databases`` once on SQLite and once on a real PostgreSQL."""
    if ("database" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("both_databases")):
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The test's ``DATABASE_URL``: a SQLite file, or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'users.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def config(request: pytest.FixtureRequest, database: str) -> dict[str, Any]:
    """The settings every test app starts from, plus a test's ``@pytest.mark.config(...)``."""
    marker = request.node.get_closest_marker("config")
    return {
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database,
        "TESTING": True,
        "PASSWORD_HASH_PARAMETERS": CHEAP_HASHING,
        **(marker.kwargs if marker else {}),
    }


@contextlib.asynccontextmanager
async def on_backend(name: str, config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """``config`` switched to session backend ``name`` (Redis: a fresh key prefix, cleaned up)."""
    if name != "redis":
        yield {**config, "SESSION_BACKEND": name}
        return
    async with fresh_redis_prefix() as (url, prefix):
        yield {**config, "SESSION_BACKEND": "redis", "REDIS_URL": url,
               "SESSION_KEY_PREFIX": prefix}


def config_on_backends(*backends: str) -> object:
    """A ``config`` fixture running each test of a module once per session backend.

    ``config = config_on_backends("cookie", "redis")`` in a test module: the
    usual config on each backend, Redis under a prefix of its own. A test can
    still pick its backends with ``parametrize("config", [...], indirect=True)``.
    """
    @pytest.fixture(params=backends, name="config")
    async def config_on_each_backend(
        request: pytest.FixtureRequest, config: dict[str, Any],
    ) -> AsyncIterator[dict[str, Any]]:
        async with on_backend(request.param, config) as configured:
            yield configured

    return config_on_each_backend


@contextlib.asynccontextmanager
async def started_app(config: Mapping[str, Any]) -> AsyncIterator[Quart]:
    """An app built from ``config`` and started (schema created, hasher warm), then shut down."""
    app = create_app(config)
    async with app.test_app():
        yield app


@pytest.fixture
async def app(config: dict[str, Any]) -> AsyncIterator[Quart]:
    """A started app for the test."""
    async with started_app(config) as started:
        yield started


@pytest.fixture
def clock(time_machine: time_machine.TimeMachineFixture) -> time_machine.TimeMachineFixture:
    """A stopped clock at START: nothing expires unless a test moves it."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def now(time_machine: time_machine.TimeMachineFixture) -> time_machine.TimeMachineFixture:
    """A stopped clock at the real present (Redis expires keys by its own clock)."""
    time_machine.move_to(datetime.now(UTC), tick=False)
    return time_machine


@pytest.fixture
def client(app: Quart) -> Client:
    """A test client with its own cookie jar."""
    return app.test_client()


@pytest.fixture
async def store(app: Quart) -> UserStore:
    """The app's user store, for arranging accounts directly."""
    async with app.app_context():
        return get_store()


@pytest.fixture
async def user(store: UserStore) -> User:
    """An existing account named alice."""
    return await store.create("alice", PASSWORD)


def csrf_from(page: str) -> str:
    """The CSRF token a page's form carries."""
    match = _TOKEN.search(page)
    assert match, "page has no CSRF token"
    return match.group(1)


def set_cookie_headers(response: Any, name: str = COOKIE) -> list[str]:
    """The ``Set-Cookie`` headers a response sends for one cookie."""
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


def cookie_attributes(header: str) -> dict[str, str]:
    """Split a ``Set-Cookie`` header into lower-cased attributes (value under ``value``)."""
    first, *rest = header.split("; ")
    attributes = {"value": first.partition("=")[2]}
    for part in rest:
        key, _, value = part.partition("=")
        attributes[key.lower()] = value
    return attributes


def jar_cookie(client: Client) -> str | None:
    """The session cookie the client would send now."""
    assert isinstance(client, QuartClient)
    assert client.cookie_jar is not None
    return next((c.value for c in client.cookie_jar if c.name == COOKIE), None)


def replay(app: Quart, cookie: str | None) -> Client:
    """A new client that sends exactly this cookie, as an attacker or old tab would."""
    other = app.test_client()
    if cookie is not None:
        other.set_cookie("localhost", COOKIE, cookie)
    return other


@dataclass
class AuthActions:
    """What a person does in the browser, as one-liners for tests."""

    client: Client

    async def token(self, path: str = "/login") -> str:
        """Open a form page and read its CSRF token (where a logged-in person is sent on
        from it, that page's: a browser's tab would show it)."""
        response = await self.client.get(path, follow_redirects=True)
        return csrf_from(await response.get_data(as_text=True))

    async def login(self, username: str = "alice", password: str = PASSWORD, *,
                    remember: bool = False, next: str | None = None) -> Any:
        """Submit the login form like a browser."""
        form = {"username": username, "password": password, "csrf_token": await self.token()}
        if remember:
            form["remember"] = "on"
        if next is not None:
            form["next"] = next
        return await self.client.post("/login", form=form)

    async def register(self, username: str = "bob", password: str = PASSWORD,
                       confirm: str | None = None) -> Any:
        """Submit the registration form like a browser."""
        form = {"username": username, "password": password,
                "confirm": password if confirm is None else confirm,
                "csrf_token": await self.token("/register")}
        return await self.client.post("/register", form=form)

    async def logout(self) -> Any:
        """Press the logout button on the profile page."""
        token = await self.token("/profile")
        return await self.client.post("/logout", form={"csrf_token": token})


async def log_in(app: Quart, client: Client, user: User, *, remember: bool = False) -> str:
    """Log ``user`` in on ``client`` through the session layer, without the form.

    The identity verb runs for real (rotation, the store's record, the cookie),
    but no password is hashed and no throttle counts: for tests about what
    happens after login. Returns the session cookie the client now holds.
    """
    async with app.test_request_context("/login") as context:
        await login_user(user, remember=remember)
        response = await app.make_response("")
        await app.session_interface.save_session(app, context.session, response)
    [header] = set_cookie_headers(response)
    value = cookie_attributes(header)["value"]
    client.set_cookie("localhost", COOKIE, value)
    return value


@pytest.fixture
def quart_cli(config: dict[str, Any]) -> Any:
    """Invoke ``quart …`` in-process against an app built from the test config."""
    group = QuartGroup(create_app=lambda: create_app(config))
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(group, list(args), input=stdin, catch_exceptions=False)

    return invoke


@pytest.fixture
def auth(client: Client) -> AuthActions:
    """Browser-like actions on the test client."""
    return AuthActions(client)


# --- Redis for session-store tests -------------------------------------------------------------

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextlib.asynccontextmanager
async def fresh_redis_prefix() -> AsyncIterator[tuple[str, str]]:
    """``(url, prefix)``: a key prefix of its own on the test Redis, emptied afterwards.

    Tests share one Redis (``TEST_REDIS_URL``) and may run beside a developer's
    app, so each works under ``test:<random>:`` and deletes exactly those keys.
    """
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    admin = Redis.from_url(TEST_REDIS_URL, socket_timeout=5, socket_connect_timeout=5,
                           decode_responses=True)
    try:
        await admin.ping()
    except (OSError, RedisError) as error:
        await admin.aclose()
        pytest.skip(f"Redis is not reachable at {TEST_REDIS_URL}: {type(error).__name__}: {error}")
    prefix = f"test:{secrets.token_hex(6)}:"
    try:
        yield TEST_REDIS_URL, prefix
    finally:
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await admin.delete(*keys)
        await admin.aclose()


@contextlib.asynccontextmanager
async def open_redis_backed[S: RedisBacked](
    make: Callable[[str, str], S],
) -> AsyncIterator[S]:
    """A store kept in Redis, ``make(url, prefix)``, open under a fresh prefix; closed after."""
    async with fresh_redis_prefix() as (url, prefix):
        store = make(url, prefix)
        await store.open()
        try:
            yield store
        finally:
            await store.close()
