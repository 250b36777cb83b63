"""Private Redis and PostgreSQL servers on ports of their own, for tests that stop and kill them.

``TcpProxy`` (``tests/outage.py``) fakes an outage between the app and a shared
server; these are the servers themselves, so a test can crash one (SIGKILL,
``pg_ctl stop -m immediate``) and start it again on the same port, with
whatever it persisted.
"""

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

READY_WITHIN: Final = 10.0
PG_CTL_TIMEOUT: Final = 30
# PostgreSQL refuses to run as root; under root the cluster belongs to this user.
POSTGRES_USER: Final = "postgres"


@dataclass
class RedisServer:
    """A ``redis-server`` of the test's own on a fixed port, to stop, kill and start again.

    ``persistent`` turns on the append-only file with a sync per write, the only
    setting under which a SIGKILL loses nothing acknowledged.
    """

    port: int
    directory: Path
    persistent: bool = False
    _process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """Where the server listens (or will, once started)."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start on the fixed port and return once PING answers (data loaded)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.persistent
                       else ["--appendonly", "no"])
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", *persistence, "--dir", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await self._wait_ready()

    async def stop(self) -> None:
        """Shut down politely (SIGTERM), forcing it after READY_WITHIN seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(READY_WITHIN):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def kill(self) -> None:
        """Crash it (SIGKILL): no shutdown save, no goodbye to its clients."""
        process, self._process = self._process, None
        assert process is not None, "redis-server is not running"
        process.kill()
        await process.wait()

    async def _wait_ready(self) -> None:
        """Poll PING until it answers, for at most READY_WITHIN seconds."""
        client = Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + READY_WITHIN
        try:
            while True:
                try:
                    if await client.ping():
                        return
                except (OSError, RedisError) as error:
                    assert self._process is not None
                    if self._process.returncode is not None or time.monotonic() > deadline:
                        raise AssertionError(f"redis-server did not start: {error!r}") from error
                await asyncio.sleep(0.02)  # poll interval, not a wait for an outcome
        finally:
            await client.aclose()


def require_redis_server() -> None:
    """Skip (a failure under FORBID_SKIPS) when ``redis-server`` is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")


@contextlib.contextmanager
def postgres_data_directory() -> Iterator[tuple[Path, str | None]]:
    """An empty folder for a cluster, and the user to run PostgreSQL as (None: this one).

    PostgreSQL will not run as root, and pytest's temporary folders are private
    to root; so under root the folder is made in the system's temporary
    directory and given to ``POSTGRES_USER``. Removed afterwards either way.
    """
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not on PATH")
    user = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            pytest.skip(f"running as root, and there is no {POSTGRES_USER!r} user to run "
                        "PostgreSQL as")
        user = POSTGRES_USER
    with tempfile.TemporaryDirectory(prefix="quart_app-pg-") as folder:
        data = Path(folder) / "data"
        data.mkdir(mode=0o700)
        if user is not None:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            os.chown(data, owner.pw_uid, owner.pw_gid)
        yield data, user


def initdb(data: Path, user: str | None) -> None:
    """Create a cluster in ``data``: trust on loopback only, no Unix socket, no fsync (tests).

    Synchronous, so that a session-scoped fixture can pay its few seconds once.
    """
    done = subprocess.run(
        ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--no-locale", "--no-sync"],
        user=user, cwd=data.parent, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, f"initdb failed:\n{done.stdout}{done.stderr}"
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n")


@dataclass
class PostgresCluster:
    """A cluster made by ``initdb`` that a test starts, stops and starts again on one port."""

    data: Path
    user: str | None
    port: int = 0
    running: bool = False

    @property
    def admin_url(self) -> str:
        """The maintenance database, to create a test's own database in."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def start(self) -> None:
        """Start on ``port`` and return once it accepts connections (``pg_ctl -w``)."""
        await self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", str(PG_CTL_TIMEOUT),
                        "-l", str(self.data / "server.log"), "-o", f"-p {self.port}")
        self.running = True

    async def stop(self, mode: str = "immediate") -> None:
        """Stop it; ``immediate`` is a crash: backends are killed, recovery runs at start."""
        await self._run("pg_ctl", "stop", "-D", str(self.data), "-w",
                        "-t", str(PG_CTL_TIMEOUT), "-m", mode)
        self.running = False

    async def create_database(self, name: str) -> str:
        """A new empty database in the running cluster; its URL."""
        admin = await asyncpg.connect(self.admin_url, timeout=READY_WITHIN)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    async def _run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *command, user=self.user, cwd=self.data.parent,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, f"{command[0]} failed:\n{output.decode()}"
