"""Measuring tools shared by every scenario: server CPU and memory from /proc, wrk, a small client.

The server's cost is read from /proc for its whole process tree (master and
workers) over exactly the load window, because on a 2-core machine shared
with the load generator, CPU time per request is steadier than req/s.
"""

import asyncio
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields after "(comm)", from field 3 on


def is_helper(pid: int) -> bool:
    """Multiprocessing's resource tracker: a child of Hypercorn's master that serves nothing."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def workers(pid: int) -> list[int]:
    """The descendants of a server's master that serve requests."""
    return [child for child in children(pid) if not is_helper(child)]


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Hypercorn's and Gunicorn's workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User plus system CPU seconds each process has used so far."""
    used = {}
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def peak_rss_mib(pid: int) -> float:
    """The most resident memory a process has held (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class CpuWindow:
    """CPU used by a server's process tree between ``start`` and ``stop``."""

    root: int
    before: dict[int, float] = field(default_factory=dict)
    per_process: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        """Read every process's CPU at the start of the load."""
        self.before = cpu_seconds([self.root, *children(self.root)])

    def stop(self) -> None:
        """Keep what each process used during the load."""
        after = cpu_seconds([self.root, *children(self.root)])
        self.per_process = {pid: used - self.before.get(pid, 0.0) for pid, used in after.items()}

    @property
    def total(self) -> float:
        """CPU seconds of the whole tree in the window."""
        return sum(self.per_process.values())

    def worker_shares(self) -> list[float]:
        """Each worker's share of the workers' CPU: how evenly the load was spread."""
        serving = set(workers(self.root))
        used = [cpu for pid, cpu in self.per_process.items() if pid in serving]
        total = sum(used) or 1.0
        return sorted((cpu / total for cpu in used), reverse=True)


ACCESS_PID: Final = re.compile(rb'us <(\d+)> "')


@dataclass
class AccessCount:
    """Requests per worker over a load window, read from our app's access log (its pid field)."""

    path: Path
    offset: int = 0

    def start(self) -> None:
        """Remember where the log ends now."""
        self.offset = self.path.stat().st_size

    def stop(self) -> list[int]:
        """Lines each worker logged since ``start``, most first."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            written = log.read()
        counts: dict[bytes, int] = {}
        for pid in ACCESS_PID.findall(written):
            counts[pid] = counts.get(pid, 0) + 1
        return sorted(counts.values(), reverse=True)


@dataclass(frozen=True)
class WrkResult:
    """One wrk run's summary."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def wrk(url: str, seconds: float, connections: int, headers: dict[str, str]) -> WrkResult:
    """Load one URL with wrk (2 threads) and read its summary; bounded by its duration."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{round(seconds)}s", "--latency",
               "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert total, out
    elapsed = float(total[2]) / (1000 if total[3] == "ms" else 1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    errors = (int(non_2xx[1]) if non_2xx else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return WrkResult(int(total[1]), elapsed, _latency(out, "50%"), _latency(out, "99%"), errors)


def _latency(out: str, percentile: str) -> float:
    match = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", out)
    assert match, out
    return float(match[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]


@dataclass(frozen=True)
class Reply:
    """A response: status, headers (lower-case names, every value), body."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, if present."""
        values = self.headers.get(name)
        return values[0] if values else None


class Client:
    """One browser-like keep-alive HTTP/1.1 connection with a cookie jar, from a chosen address.

    Small on purpose: the load generator shares the cores with the servers,
    and a general client (httpx) would spend more CPU per request than the
    pages it measures.
    """

    def __init__(self, host: str, port: int, source: str = "127.0.0.1") -> None:
        self.host, self.port, self.source = host, port, source
        self.cookies: dict[str, str] = {}
        self.last_body = b""
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, form: str | None = None) -> Reply:
        """Send one request with the jar's cookies; keep the answer's cookies."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0))
        reader, writer = self._streams
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = (form or "").encode()
        if form is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded",
                      f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        reply = await _read_reply(reader, head_only=method == "HEAD")
        self.last_body = reply.body
        for cookie in reply.headers.get("set-cookie", []):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            attributes = rest.lower()
            if not value or "max-age=0" in attributes or "01 jan 1970" in attributes:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if (reply.header("connection") or "").lower() == "close":
            await self.close()
        return reply

    async def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _read_reply(reader: asyncio.StreamReader, *, head_only: bool) -> Reply:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    headers: dict[str, list[str]] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    body = b""
    if head_only:
        pass
    elif "chunked" in (headers.get("transfer-encoding") or [""])[0].lower():
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    elif length := headers.get("content-length"):
        body = await reader.readexactly(int(length[0]))
    return Reply(int(status_line.split()[1]), headers, body)


def token_from(page: bytes) -> str:
    """The CSRF token of the first form on one of our pages."""
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match[1].decode()


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def monotonic_ms() -> float:
    """Now, in milliseconds, for latencies."""
    return time.perf_counter() * 1000
