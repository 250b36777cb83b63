"""A real Hypercorn process from ``hypercorn.toml`` on a free port, for server and browser tests."""

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT: Final = 60.0
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

    def access_log(self, path: str) -> list[tuple[int, int]]:
        """(status, worker pid) of every logged request to ``path``."""
        hits = []
        for line in self.output:
            match = ACCESS_LINE.search(line)
            if match and match["path"] == path:
                hits.append((int(match["status"]), int(match["pid"])))
        return hits


def server_environment(instance_path: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without QUART_* settings, plus the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUART_")}
    return {**env, "QUART_INSTANCE_PATH": str(instance_path), **extra}


@contextlib.asynccontextmanager
async def live_server(instance_path: Path, extra_env: Mapping[str, str] | None = None,
                      workers: int = 2) -> AsyncIterator[LiveServer]:
    """Start Hypercorn with the project's config and stop it (SIGTERM) afterwards.

    Ready means every worker has logged "Running on", which Hypercorn does
    only after the app's start-up (schema, hasher warm-up) has finished.
    """
    port = free_port()
    env = server_environment(instance_path, extra_env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hypercorn", "--config", str(ROOT / "hypercorn.toml"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "quart_app.asgi:app",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", instance_path, env)
    ready = asyncio.Event()

    async def collect() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            server.output.append(raw.decode(errors="replace").rstrip())
            if sum("Running on" in line for line in server.output) >= workers:
                ready.set()

    reader = asyncio.create_task(collect())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            await asyncio.wait(
                [asyncio.ensure_future(ready.wait()), reader],
                return_when=asyncio.FIRST_COMPLETED,
            )
        if not ready.is_set():
            raise RuntimeError("hypercorn exited before serving:\n" + "\n".join(server.output))
        yield server
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
