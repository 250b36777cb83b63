"""Hypercorn workers under ``quart_app.supervisor``: SIGKILL to a worker, SIGTERM to the parent.

Hypercorn 0.18's own parent process stops every worker (and exits 0) when one
dies, and on SIGTERM kills the busy workers as soon as an idle one has
finished; the supervisor (``python -m quart_app.supervisor``, Hypercorn's
command line) replaces the dead worker, drains every worker for
``graceful_timeout`` and kills what is left ``SHUTDOWN_MARGIN`` later.

The request in flight is a registration whose body is still arriving: the
client sends the head and half the form, waits until the worker has read them
(the server side of the connection has nothing left unread in
``/proc/net/tcp``), and sends the rest only when the test says so.
"""

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from quart_app.supervisor import SHUTDOWN_MARGIN

from ..conftest import PASSWORD, csrf_from, fresh_postgres_database
from ..live_server import (
    ROOT,
    STARTUP_TIMEOUT,
    LiveServer,
    free_port,
    live_server,
    server_environment,
)
from ..outage import proxied
from ..test_server import Visitor
from .helpers import poll, registered_and_logged_in

pytestmark = pytest.mark.server

SUPERVISOR: Final = "quart_app.supervisor"
# Short, so the tests that wait it out stay cheap; the supervisor reads it from the command line
# exactly as from hypercorn.toml.
GRACEFUL_TIMEOUT: Final = 2
SHORT_GRACE: Final = ("--graceful-timeout", str(GRACEFUL_TIMEOUT))
# Only bounds the waits on a busy 2-core machine: a parent that hangs fails instead.
SLACK: Final = 10.0
EXIT_WITHIN: Final = GRACEFUL_TIMEOUT + SHUTDOWN_MARGIN + SLACK
# Less than hypercorn.toml's graceful_timeout (10 s), so refusing only once the server has
# exited is not enough.
REFUSED_WITHIN: Final = 5.0


def children(pid: int) -> set[int]:
    """The Hypercorn workers a parent process has spawned right now (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if stat[1] == str(pid) and stat[0] != "Z" and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def parent(server: LiveServer) -> asyncio.subprocess.Process:
    """The server's parent process."""
    assert server.process is not None
    return server.process


def unread_bytes(local_port: int, remote_port: int) -> int | None:
    """Bytes waiting unread on the loopback TCP socket local_port → remote_port, if it exists."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if (int(local.split(":")[1], 16) == local_port
                and int(remote.split(":")[1], 16) == remote_port):
            return int(queues.split(":")[1], 16)
    return None


@dataclass
class Answer:
    """What the server sent back on a raw connection before closing it."""

    status: int | None
    headers: dict[str, str]


@dataclass
class SlowRegistration:
    """POST /register whose form is half sent: a request the worker is in the middle of."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    rest: bytes
    server_port: int

    @classmethod
    async def start(cls, server: LiveServer, username: str) -> "SlowRegistration":
        """Open the form like a browser, then send the head and the first half of the body."""
        browser = Visitor(server)
        token = csrf_from((await browser.request("GET", "/register")).text)
        body = (f"username={username}&password={PASSWORD.replace(' ', '+')}"
                f"&confirm={PASSWORD.replace(' ', '+')}&csrf_token={token}").encode()
        port = int(server.url.rsplit(":", 1)[1])
        head = (f"POST /register HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Cookie: {browser.headers()['Cookie']}\r\n\r\n").encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        half = len(body) // 2
        writer.write(head + body[:half])
        await writer.drain()
        request = cls(reader, writer, body[half:], port)
        await request.read_by_a_worker()
        return request

    async def read_by_a_worker(self) -> None:
        """Wait until a worker has accepted the connection and read everything sent so far."""
        client_port = self.writer.get_extra_info("sockname")[1]

        async def unread() -> int | None:
            return unread_bytes(self.server_port, client_port)

        await poll(unread, lambda count: count == 0)

    async def finish(self) -> Answer:
        """Send the rest of the form and read the answer."""
        self.writer.write(self.rest)
        await self.writer.drain()
        return await self.answer()

    async def answer(self) -> Answer:
        """Read until the server closes the connection; a cut connection has no status."""
        try:
            data = await self.reader.read()
        except ConnectionError:
            data = b""
        finally:
            self.writer.close()
        head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
        if not head:
            return Answer(None, {})
        status_line, *lines = head.split("\r\n")
        headers = {name.lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines)}
        return Answer(int(status_line.split()[1]), headers)


async def refused(server: LiveServer) -> bool:
    """Whether a new connection to the server is refused."""
    port = int(server.url.rsplit(":", 1)[1])
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


@contextlib.asynccontextmanager
async def supervised(tmp_path: Path, options: tuple[str, ...] = (),
                     workers: int = 2) -> AsyncIterator[LiveServer]:
    """The app from hypercorn.toml (two workers unless told) under the supervisor."""
    async with live_server(tmp_path / "instance", workers=workers, launcher=SUPERVISOR,
                           options=options) as server:
        yield server


async def profile_from(server: LiveServer, browser: Visitor) -> tuple[int, int]:
    """Load /profile; its status and the pid of the worker that answered."""
    before = len(server.access_log("/profile"))
    status = (await browser.request("GET", "/profile")).status_code
    await server.wait_for_output(lambda: len(server.access_log("/profile")) > before)
    return status, server.access_log("/profile")[-1][1]


async def test_a_killed_worker_is_replaced_while_the_other_serves_the_logged_in_user(
    tmp_path: Path,
) -> None:
    """Cookie sessions: both workers, and the replacement, read the key from the instance."""
    async with supervised(tmp_path) as server:
        alice = await registered_and_logged_in(server)
        master = parent(server)
        original = children(master.pid)
        assert len(original) == 2
        status, victim = await profile_from(server, alice)
        assert status == 200

        os.kill(victim, signal.SIGKILL)
        [survivor] = original - {victim}
        statuses = []

        async def replacement_serving() -> tuple[int, int]:
            answer = await profile_from(server, alice)
            statuses.append(answer[0])
            return answer

        (status, pid), _ = await poll(
            replacement_serving, lambda answer: answer[1] not in original)
        assert master.returncode is None
        assert set(statuses) == {200}, "every request from the kill on was answered for alice"
        assert children(master.pid) == {survivor, pid}
        assert any(f"worker {victim} killed by signal 9: starting a replacement" in line
                   for line in server.output)


async def test_sigterm_refuses_new_connections_and_answers_the_request_in_flight_in_full(
    tmp_path: Path,
) -> None:
    async with supervised(tmp_path) as server:
        master = parent(server)
        workers = children(master.pid)
        registration = await SlowRegistration.start(server, "alice")
        master.send_signal(signal.SIGTERM)

        await poll(lambda: refused(server), lambda yes: yes, within=REFUSED_WITHIN)
        assert master.returncode is None, "the parent waits for the request in flight"
        answer = await registration.finish()
        assert answer.status == 303
        assert answer.headers["location"] == "/profile"
        async with asyncio.timeout(EXIT_WITHIN):
            assert await master.wait() == 0
        assert not any(alive(pid) for pid in workers)


@pytest.mark.parametrize("worker_class", ["uvloop", "asyncio"])
async def test_a_request_still_in_flight_past_graceful_timeout_is_cut_and_the_server_exits(
    tmp_path: Path, worker_class: str,
) -> None:
    """uvloop (hypercorn.toml) and asyncio, whose worker alone would wait forever (#308).

    One worker is enough: the request is cut in the worker that has it.
    """
    options = (*SHORT_GRACE, "--worker-class", worker_class)
    async with supervised(tmp_path, options=options, workers=1) as server:
        master = parent(server)
        workers = children(master.pid)
        registration = await SlowRegistration.start(server, "alice")
        asked_at = time.monotonic()
        master.send_signal(signal.SIGTERM)
        async with asyncio.timeout(EXIT_WITHIN):
            answer = await registration.answer()
            answered_after = time.monotonic() - asked_at
            assert await master.wait() == 0
        assert answer.status in {None, 500}, "never the registration's own answer"
        assert answered_after >= GRACEFUL_TIMEOUT, "it was given the whole graceful_timeout"
        assert not any(alive(pid) for pid in workers)


async def test_a_worker_that_cannot_start_stops_the_supervisor_with_status_1(
    tmp_path: Path,
) -> None:
    environment = server_environment(tmp_path / "instance", {"QUART_SECRET_KEY": "short"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", SUPERVISOR, "--config", str(ROOT / "hypercorn.toml"),
        "--bind", f"127.0.0.1:{free_port()}", "--workers", "1", "quart_app.asgi:app",
        cwd=ROOT, env=environment, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            _, errors = await process.communicate()
    finally:
        if process.returncode is None:  # restarting the failing worker for ever: a failure
            process.kill()
            await process.wait()
    assert process.returncode == 1
    assert "configuration error: SECRET_KEY" in errors.decode()
    assert "failed to start (exited with status 2): stopping" in errors.decode()


async def test_sighup_leaves_the_supervisor_and_its_workers_serving(tmp_path: Path) -> None:
    async with supervised(tmp_path) as server:
        master = parent(server)
        workers = children(master.pid)
        master.send_signal(signal.SIGHUP)
        try:
            await server.wait_for_output(lambda: any("SIGHUP ignored" in line
                                                     for line in server.output))
            assert (await Visitor(server).request("GET", "/login")).status_code == 200
            assert master.returncode is None
            assert children(master.pid) == workers
        finally:
            if master.returncode is not None:  # orphans would keep the output open for ever
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


async def test_a_replacement_that_cannot_start_is_retried_while_the_other_worker_serves(
    tmp_path: Path,
) -> None:
    """Its database is down while it starts: the survivor serves, the retry succeeds later."""
    async with fresh_postgres_database() as database, proxied(database) as (url, proxy):
        environment = {"QUART_DATABASE_URL": url}
        async with live_server(tmp_path / "instance", environment,
                               launcher=SUPERVISOR) as server:
            master = parent(server)
            original = children(master.pid)
            await proxy.stop()
            os.kill(min(original), signal.SIGKILL)
            await server.wait_for_output(lambda: any("soon after starting: retrying in" in line
                                                     for line in server.output))
            assert master.returncode is None
            assert (await Visitor(server).request("GET", "/login")).status_code == 200
            await proxy.start()
            await server.wait_for_output(
                lambda: sum("Running on" in line for line in server.output) >= 3)
            assert len(children(master.pid)) == 2
