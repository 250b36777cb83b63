"""A real Hypercorn process from ``hypercorn.toml`` on a free port, for server and browser tests."""

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT: Final = 60.0
OUTPUT_TIMEOUT: Final = 10.0
ACCESS_LINE: Final = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) [0-9.]+" (?P<status>\d{3}) .*<(?P<pid>\d+)>'
)


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A running server, its URL and everything it has printed so far."""

    url: str
    instance_path: Path
    environment: dict[str, str]
    output: list[str] = field(default_factory=list)
    printed: asyncio.Event = field(default_factory=asyncio.Event)
    process: asyncio.subprocess.Process | None = None

    async def wait_for_output(self, done: Callable[[], bool]) -> None:
        """Wait (bounded by OUTPUT_TIMEOUT) until the server has printed what ``done`` wants."""
        async with asyncio.timeout(OUTPUT_TIMEOUT):
            while not done():
                self.printed.clear()
                await self.printed.wait()

    def access_log(self, path: str, since: int = 0) -> list[tuple[int, int]]:
        """(status, worker pid) of every logged request to ``path``, from output line ``since``."""
        hits = []
        for line in self.output[since:]:
            match = ACCESS_LINE.search(line)
            if match and match["path"] == path:
                hits.append((int(match["status"]), int(match["pid"])))
        return hits


def server_environment(instance_path: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without QUART_* settings, plus the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUART_")}
    return {**env, "QUART_INSTANCE_PATH": str(instance_path), **extra}


@contextlib.asynccontextmanager
async def serving(command: Sequence[str], env: Mapping[str, str], ready_marker: str,
                  ready_count: int, output: list[str], stdout_file: Path | None = None,
                  printed: asyncio.Event | None = None,
                  ) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a server command until the caller is done, then stop it (SIGTERM, then SIGKILL).

    Ready means ``ready_marker`` has appeared in ``ready_count`` lines of its
    output (one per worker), which every server used here prints only once
    the worker can serve. The benchmarks start their contenders through this
    too, with stdout (the access log) going to a file rather than through them.
    """
    with contextlib.ExitStack() as files:
        stdout = files.enter_context(stdout_file.open("wb")) if stdout_file else None
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=dict(env),
            stdout=stdout if stdout else asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.STDOUT,
        )
    lines = process.stderr if stdout_file else process.stdout
    ready = asyncio.Event()

    async def collect() -> None:
        assert lines is not None
        async for raw in lines:
            output.append(raw.decode(errors="replace").rstrip())
            if printed is not None:
                printed.set()
            if sum(ready_marker in line for line in output) >= ready_count:
                ready.set()

    reader = asyncio.create_task(collect())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            await asyncio.wait(
                [asyncio.ensure_future(ready.wait()), reader],
                return_when=asyncio.FIRST_COMPLETED,
            )
        if not ready.is_set():
            raise RuntimeError(f"{command[0]} exited before serving:\n" + "\n".join(output))
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader


def hypercorn_command(app: str, port: int, workers: int = 2,
                      launcher: str = "hypercorn") -> list[str]:
    """Hypercorn from the project's ``hypercorn.toml``, on loopback at ``port``.

    ``launcher`` is the module run with ``python -m``: Hypercorn itself, or
    ``quart_app.supervisor``, which takes the same command line.
    """
    return [sys.executable, "-m", launcher, "--config", str(ROOT / "hypercorn.toml"),
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers), app]


@contextlib.asynccontextmanager
async def live_server(instance_path: Path, extra_env: Mapping[str, str] | None = None,
                      workers: int = 2, launcher: str = "quart_app.supervisor",
                      options: Sequence[str] = ()) -> AsyncIterator[LiveServer]:
    """Start Hypercorn with the project's config serving quart_app, and stop it afterwards.

    Hypercorn logs "Running on" per worker only after the app's start-up
    (schema, hasher warm-up) has finished. ``options`` are more command-line
    flags (``--graceful-timeout 3``); the parent process is ``server.process``.
    """
    port = free_port()
    env = server_environment(instance_path, extra_env or {})
    server = LiveServer(f"http://127.0.0.1:{port}", instance_path, env)
    command = [*hypercorn_command("quart_app.asgi:app", port, workers, launcher), *options]
    async with serving(command, env, "Running on", workers, server.output,
                       printed=server.printed) as process:
        server.process = process
        yield server


async def run_cli(server: LiveServer, *args: str, stdin: str = "") -> None:
    """Run ``quart --app quart_app.asgi ARGS`` against the server's instance, as an operator."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quart", "--app", "quart_app.asgi", *args,
        env=server.environment, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate(stdin.encode())
    assert process.returncode == 0, errors.decode()


async def create_user(server: LiveServer, username: str, password: str) -> None:
    """Create an account the way an operator does: the ``quart users create`` command."""
    await run_cli(server, "users", "create", username, "--password-stdin", stdin=password)
