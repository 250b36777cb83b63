"""GET /profile with a logged-in cookie: quart_app on Hypercorn vs the Flask tutorial on Gunicorn.

Run from the project root: ``.venv/bin/python bench/profile.py`` (needs ``wrk`` from apt and
the ``bench`` extra). Each server runs with two workers on 127.0.0.1; wrk loads them in
alternating rounds and the table reports medians and the ratio to the Flask baseline measured
in the same run, since absolute numbers on a shared machine mean little.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark passphrase"  # noqa: S105 - a throwaway account
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Target:
    """One server under test and the cookie of a logged-in user on it."""

    name: str
    url: str
    cookie: str


@dataclass(frozen=True)
class Sample:
    """One wrk run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str) -> None:
    """Poll until the server answers, bounded by READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


@contextmanager
def running(command: list[str], url: str, env: dict[str, str]) -> Iterator[None]:
    """Start a server process, wait for it, and stop it afterwards."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def quart_env(instance: Path, cache_ttl: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUART_")}
    return {**env, "QUART_INSTANCE_PATH": str(instance), "QUART_USER_CACHE_TTL": cache_ttl}


def quart_login(url: str, env: dict[str, str]) -> str:
    """Create a user with the CLI and log in through the form, CSRF token and all."""
    subprocess.run([sys.executable, "-m", "quart", "--app", "quart_app.asgi", "users", "create",
                    "alice", "--password-stdin"], input=PASSWORD, text=True, env=env, cwd=ROOT,
                   check=False, capture_output=True)
    with httpx.Client(base_url=url) as http:
        page = http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        anonymous = page.headers["set-cookie"].split(";")[0]
        response = http.post("/login", headers={"Cookie": anonymous}, data={
            "username": "alice", "password": PASSWORD, "csrf_token": token.group(1)})
        assert response.status_code == 303, response.status_code
        return response.headers["set-cookie"].split(";")[0]


def flask_login(url: str) -> str:
    with httpx.Client(base_url=url) as http:
        response = http.post("/login", data={"nm": "alice"})
        return response.headers["set-cookie"].split(";")[0]


def check_profile(target: Target) -> None:
    """Refuse to benchmark a redirect: the cookie must really be logged in."""
    response = httpx.get(f"{target.url}/profile", headers={"Cookie": target.cookie})
    if response.status_code != 200 or "alice" not in response.text:
        raise SystemExit(f"{target.name}: the benchmark cookie is not logged in")


def wrk(target: Target, seconds: int, connections: int) -> Sample:
    """Load /profile with wrk and read its summary."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Cookie: {target.cookie}", f"{target.url}/profile"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return Sample(rps, latency(out, "50%"), latency(out, "99%"), errors)


def latency(wrk_output: str, percentile: str) -> float:
    """A latency percentile from wrk's distribution, in milliseconds."""
    match = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", wrk_output)
    assert match, f"no {percentile} latency in wrk output"
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def table(results: dict[str, list[Sample]], baseline: str) -> str:
    base = statistics.median(s.requests_per_second for s in results[baseline])
    lines = ["| server | req/s (median) | p50 ms | p99 ms | non-2xx/errors | vs Flask |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, samples in results.items():
        rps = statistics.median(s.requests_per_second for s in samples)
        p50 = statistics.median(s.p50_ms for s in samples)
        p99 = statistics.median(s.p99_ms for s in samples)
        errors = sum(s.errors for s in samples)
        lines.append(f"| {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {errors} | "
                     f"{rps / base:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")

    flask_url = f"http://127.0.0.1:{free_port()}"
    cached_url = f"http://127.0.0.1:{free_port()}"
    uncached_url = f"http://127.0.0.1:{free_port()}"
    hypercorn = [sys.executable, "-m", "hypercorn", "--config", "hypercorn.toml",
                 "--access-logfile", "/dev/null"]
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", "2", "--chdir", "bench",
                "--bind", flask_url.removeprefix("http://"), "flask_tutorial:app"]
    with tempfile.TemporaryDirectory() as tmp:
        cached_env = quart_env(Path(tmp) / "cached", "1")
        uncached_env = quart_env(Path(tmp) / "uncached", "0")
        with (
            running(gunicorn, f"{flask_url}/login", dict(os.environ)),
            running([*hypercorn, "--bind", cached_url.removeprefix("http://"),
                     "quart_app.asgi:app"], f"{cached_url}/healthz", cached_env),
            running([*hypercorn, "--bind", uncached_url.removeprefix("http://"),
                     "quart_app.asgi:app"], f"{uncached_url}/healthz", uncached_env),
        ):
            targets = [
                Target("Flask tutorial, Gunicorn 2 sync workers", flask_url,
                       flask_login(flask_url)),
                Target("quart_app, Hypercorn 2 uvloop workers", cached_url,
                       quart_login(cached_url, cached_env)),
                Target("quart_app, USER_CACHE_TTL=0 (DB check each request)", uncached_url,
                       quart_login(uncached_url, uncached_env)),
            ]
            for target in targets:
                check_profile(target)
            results: dict[str, list[Sample]] = {t.name: [] for t in targets}
            for round_number in range(args.rounds):
                for target in targets:
                    results[target.name].append(wrk(target, args.seconds, args.connections))
                print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    print(f"GET /profile, logged in; wrk 1 thread, {args.connections} connections, "
          f"{args.rounds} x {args.seconds} s each, alternating; {os.cpu_count()} cores\n")
    print(table(results, targets[0].name))


if __name__ == "__main__":
    main()
