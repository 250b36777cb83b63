"""The scenarios: what load each contender gets, and what one round of it measures.

Every round is bounded by its duration; the Python clients stop at a deadline
and wrk by its own ``-d``. Clients use distinct loopback source addresses
(127.0.N.M) so the login throttle, which counts per address, sees what many
real visitors would look like and never trips during a run.
"""

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import redis
from argon2 import PasswordHasher

from quart_app.passwords import PRODUCTION

from .contenders import PASSWORD, REDIS_URL, Contender
from .harness import (
    AccessCount,
    Client,
    CpuWindow,
    WrkResult,
    monotonic_ms,
    percentile,
    wrk,
)

CONNECTIONS: Final = 64
JOURNEY_USERS: Final = 4  # people arriving one by one; the storm scenario is the overload
STORM_CLIENTS: Final = 16
SLOW_CLIENTS: Final = 200
PROFILES_PER_JOURNEY: Final = 5


@dataclass
class Running:
    """A started contender: where it listens, its process, its benchmark user's cookie."""

    contender: Contender
    port: int
    pid: int
    access_log: Path | None = None
    cookie: str = ""

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, source: str = "127.0.0.1") -> Client:
        """A fresh browser-like client for it."""
        return Client("127.0.0.1", self.port, source)


@dataclass
class Sample:
    """One round of one scenario on one contender."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float
    redis_us: float | None = None
    worker_shares: list[float] = field(default_factory=list)
    requests_per_worker: list[int] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """For the JSON file."""
        return asdict(self)


def _redis_cpu() -> float:
    info = redis.Redis.from_url(REDIS_URL).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass
class Window:
    """What one load window cost: the server's CPU, Redis's CPU, the requests each worker logged."""

    cpu: CpuWindow
    redis_seconds: float | None
    requests_per_worker: list[int]


async def _measured(target: Running, load: Any) -> tuple[Any, Window]:
    """Run ``load`` (a coroutine) inside a CPU window of the server (and of Redis)."""
    cpu = CpuWindow(target.pid)
    counter = AccessCount(target.access_log) if target.access_log else None
    redis_before = _redis_cpu() if target.contender.uses_redis else None
    if counter:
        counter.start()
    cpu.start()
    result = await load
    cpu.stop()
    redis_used = _redis_cpu() - redis_before if redis_before is not None else None
    return result, Window(cpu, redis_used, counter.stop() if counter else [])


def _sample(result: WrkResult, window: Window, **extra: float) -> Sample:
    requests = max(result.requests, 1)
    redis = window.redis_seconds
    return Sample(result.rate, result.p50_ms, result.p99_ms, result.requests, result.errors,
                  window.cpu.total / requests * 1e6,
                  redis / requests * 1e6 if redis is not None else None,
                  window.cpu.worker_shares(), window.requests_per_worker, dict(extra))


async def fresh_login(target: Running, username: str) -> None:
    """Log the benchmark user in again, so no round ever sends a cookie over a minute old.

    An older cookie would make every request of ours record activity (re-sign
    the cookie, or write the Redis record), a different and costlier case.
    """
    flow = target.contender.flow
    if flow is None:
        return
    client = target.client()
    status = await flow.login(client, username)
    assert status == target.contender.login_status, f"{target.contender.key}: login {status}"
    profile = await client.request("GET", "/profile")
    if profile.status != 200 or username.encode() not in profile.body:
        raise SystemExit(f"{target.contender.key}: the benchmark cookie is not logged in")
    await client.close()
    target.cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def _wrk_load(target: Running, path: str, seconds: float, cookie: bool) -> Any:
    headers = {"Cookie": target.cookie} if cookie and target.cookie else {}
    return asyncio.to_thread(wrk, target.url + path, seconds, CONNECTIONS, headers)


async def page(target: Running, path: str, seconds: float, cookie: bool,
               relogin: bool = True) -> Sample:
    """wrk on one page: ``/profile`` logged in, or ``/login`` as a new visitor."""
    if cookie and relogin:
        await fresh_login(target, "bench")
    result, window = await _measured(target, _wrk_load(target, path, seconds, cookie))
    return _sample(result, window)


async def _journeys(target: Running, username: str, source: str, deadline: float,
                    latencies: list[float], failures: list[int]) -> int:
    """Log in, read the profile five times, log out; again until the deadline."""
    flow = target.contender.flow
    assert flow is not None
    client = target.client(source)
    done = 0
    while time.monotonic() < deadline:
        started = monotonic_ms()
        status = await flow.login(client, username)
        if status != target.contender.login_status:  # e.g. a fast 503 past the hashing queue
            failures.append(status)
            client.cookies.clear()
            continue
        for _ in range(PROFILES_PER_JOURNEY):
            profile = await client.request("GET", "/profile")
            if profile.status != 200 or username.encode() not in profile.body:
                failures.append(profile.status)
        status = await flow.logout(client)
        if status not in (302, 303):
            failures.append(status)
        latencies.append(monotonic_ms() - started)
        done += 1
    await client.close()
    return done


async def journey(target: Running, seconds: float, users: list[str]) -> Sample:
    """Many users each looping login → 5 x profile → logout; latency is per journey."""
    latencies: list[float] = []
    failures: list[int] = []
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    async def everyone() -> int:
        counts = await asyncio.gather(*(
            _journeys(target, name, f"127.0.1.{i + 1}", deadline, latencies, failures)
            for i, name in enumerate(users)))
        return sum(counts)

    journeys, window = await _measured(target, everyone())
    elapsed = time.monotonic() - started
    requests = journeys * (PROFILES_PER_JOURNEY + 3)
    result = WrkResult(requests, elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99),
                       len(failures))
    return _sample(result, window, journeys_per_s=journeys / elapsed,
                   cpu_us_per_journey=window.cpu.total / max(journeys, 1) * 1e6)


async def _login_loop(target: Running, username: str, source: str, deadline: float,
                      outcomes: list[tuple[int, float]]) -> None:
    flow = target.contender.flow
    assert flow is not None
    client = target.client(source)
    while time.monotonic() < deadline:
        started = monotonic_ms()
        status = await flow.login(client, username)
        outcomes.append((status, monotonic_ms() - started))
        client.cookies.clear()
    await client.close()


async def storm(target: Running, seconds: float, users: list[str]) -> tuple[Sample, Sample]:
    """``/profile`` at rest, then the same while 16 clients log in non-stop."""
    rest = await page(target, "/profile", seconds, cookie=True)
    outcomes: list[tuple[int, float]] = []
    deadline = time.monotonic() + seconds + 1

    async def under_storm() -> WrkResult:
        logins = asyncio.gather(*(
            _login_loop(target, name, f"127.0.2.{i + 1}", deadline, outcomes)
            for i, name in enumerate(users)))
        await asyncio.sleep(0.5)  # let the storm reach the hashing queue before measuring
        result: WrkResult = await _wrk_load(target, "/profile", seconds, cookie=True)
        await logins
        return result

    result, window = await _measured(target, under_storm())
    succeeded = [ms for status, ms in outcomes if status == target.contender.login_status]
    refused = [ms for status, ms in outcomes if status == 503]
    stormy = _sample(result, window,
                     logins_per_s=len(succeeded) / (seconds + 1),
                     login_p50_ms=percentile(succeeded, 0.5),
                     login_max_ms=max(succeeded, default=0.0),
                     refused_503=len(refused), refused_max_ms=max(refused, default=0.0),
                     other_statuses=len(outcomes) - len(succeeded) - len(refused))
    return rest, stormy


def _verify_for(seconds: float) -> int:
    hasher = PasswordHasher.from_parameters(PRODUCTION)  # the costs the app hashes with
    stored = hasher.hash(PASSWORD)
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        hasher.verify(stored, PASSWORD)
        count += 1
    return count


def raw_verify_rate(seconds: float, processes: int) -> float:
    """argon2id verifications per second with every core busy and nothing else running."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.map(_verify_for, [seconds] * processes)
    return sum(counts) / seconds


async def _trickle(port: int, stop: asyncio.Event) -> None:
    """A client that sends a form's headers, then its body one byte a second."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: 10000\r\n\r\n".encode())
        while not stop.is_set():
            writer.write(b"a")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        writer.close()
    except OSError:
        pass


async def slow_clients(target: Running, seconds: float) -> tuple[Sample, Sample]:
    """``/profile`` alone, then the same while 200 clients trickle request bodies."""
    normal = await page(target, "/profile", seconds, cookie=True)
    stop = asyncio.Event()
    tricklers = [asyncio.create_task(_trickle(target.port, stop)) for _ in range(SLOW_CLIENTS)]
    await asyncio.sleep(1.0)  # every slow client connected and holding its request open
    try:
        slow = await page(target, "/profile", seconds, cookie=True, relogin=False)
    finally:
        stop.set()
        await asyncio.gather(*tricklers)
    return normal, slow
