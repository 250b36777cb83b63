"""What is compared: our app on both session backends, and what a user would deploy instead.

Each contender is configured the way its own documentation advises: Gunicorn
with ``gthread`` (2 workers x 4 threads) or 2 sync workers and its default
logging (no access log), Flask-Session with ``SESSION_TYPE = "redis"``, and
the Hypercorn contenders on this project's own ``hypercorn.toml`` (no
Hypercorn access log; our app writes its own, to a file here, as a deployment
writes it to journald). The floors (a Quart hello-world, a bare ASGI app)
show what the framework and the server cost before an app does anything.
"""

import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from tests.live_server import hypercorn_command

from .harness import Client, token_from

PASSWORD: Final = "benchmark passphrase"  # noqa: S105 - throwaway accounts
REDIS_URL: Final = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Flow:
    """How a browser registers, logs in and out on one kind of app."""

    register: Callable[[Client, str], Awaitable[None]]
    login: Callable[[Client, str], Awaitable[int]]
    logout: Callable[[Client], Awaitable[int]]


async def _ours_register(client: Client, username: str) -> None:
    page = await client.request("GET", "/register")
    reply = await client.request("POST", "/register", urlencode({
        "username": username, "password": PASSWORD, "confirm": PASSWORD,
        "csrf_token": token_from(page.body)}))
    assert reply.status in (303, 409), f"register {username}: {reply.status}"
    client.cookies.clear()


async def _ours_login(client: Client, username: str) -> int:
    page = await client.request("GET", "/login")
    reply = await client.request("POST", "/login", urlencode({
        "username": username, "password": PASSWORD, "csrf_token": token_from(page.body)}))
    return reply.status


async def _ours_logout(client: Client) -> int:
    reply = await client.request("POST", "/logout", urlencode(
        {"csrf_token": token_from(client.last_body)}))
    return reply.status


async def _flask_register(client: Client, username: str) -> None:
    """The tutorial has no accounts: any name logs in."""


async def _flask_login(client: Client, username: str) -> int:
    await client.request("GET", "/login")
    return (await client.request("POST", "/login", urlencode({"nm": username}))).status


async def _flask_logout(client: Client) -> int:
    return (await client.request("GET", "/logout")).status


OURS: Final = Flow(_ours_register, _ours_login, _ours_logout)
FLASK: Final = Flow(_flask_register, _flask_login, _flask_logout)


@dataclass(frozen=True)
class Contender:
    """One server: how to start it, how to log in to it, and what it keeps in Redis."""

    key: str
    name: str
    app: str
    server: str
    flow: Flow | None = None
    env: dict[str, str] = field(default_factory=dict)
    uses_redis: bool = False
    login_status: int = 303

    def command(self, port: int) -> list[str]:
        """The command line that serves this contender on ``port``."""
        if self.server == "hypercorn":  # ours as the README serves it: under its supervisor
            launcher = "quart_app.supervisor" if self.app.startswith("quart_app") else "hypercorn"
            return hypercorn_command(self.app, port, launcher=launcher)
        gunicorn = [sys.executable, "-m", "gunicorn", "--workers", "2",
                    "--bind", f"127.0.0.1:{port}"]
        if self.server == "gthread":
            gunicorn += ["--worker-class", "gthread", "--threads", "4"]
        return [*gunicorn, self.app]

    @property
    def ready_marker(self) -> str:
        """The line each worker prints once it serves (Gunicorn: before importing the app)."""
        return "Running on" if self.server == "hypercorn" else "Booting worker"

    def environment(self, workdir: Path) -> dict[str, str]:
        """The contender's environment: ours gets its own instance folder and key."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUART_")}
        if self.server == "hypercorn" and self.app.startswith("quart_app"):
            env |= {"QUART_INSTANCE_PATH": str(workdir / self.key),
                    "QUART_SECRET_KEY": secrets.token_urlsafe(32)}
        return env | self.env


def _ours_redis_env() -> dict[str, str]:
    return {"QUART_SESSION_BACKEND": "redis", "QUART_REDIS_URL": REDIS_URL,
            "QUART_SESSION_KEY_PREFIX": f"bench-{secrets.token_hex(4)}:"}


CONTENDERS: Final = [
    Contender("ours-cookie", "quart_app, cookie sessions (Hypercorn 2 uvloop)",
              "quart_app.asgi:app", "hypercorn", OURS),
    Contender("ours-redis", "quart_app, Redis sessions (Hypercorn 2 uvloop)",
              "quart_app.asgi:app", "hypercorn", OURS, _ours_redis_env(), uses_redis=True),
    Contender("flask-gthread", "Flask tutorial, Gunicorn gthread 2x4",
              "bench.reference.flask_tutorial.app:app", "gthread", FLASK, login_status=302),
    Contender("flask-sync", "Flask tutorial, Gunicorn sync 2",
              "bench.reference.flask_tutorial.app:app", "sync", FLASK, login_status=302),
    Contender("flask-session", "Flask + Flask-Session 0.8 Redis, gthread 2x4",
              "bench.reference.flask_session_redis:app", "gthread", FLASK,
              {"BENCH_KEY_PREFIX": f"bench-fs-{secrets.token_hex(4)}:"}, uses_redis=True,
              login_status=302),
    Contender("quart-hello", "Quart hello-world (hypercorn.toml)",
              "bench.reference.quart_hello:app", "hypercorn"),
    Contender("bare-asgi", "bare ASGI app (hypercorn.toml)",
              "bench.reference.bare_asgi:app", "hypercorn"),
]
