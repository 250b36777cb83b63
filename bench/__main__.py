"""Run the benchmark suite: ``.venv/bin/python -m bench`` from the project root.

Starts every contender at once on loopback, then runs each scenario in
interleaved rounds (A B C …, A B C …) so that a noisy neighbour hurts all of
them alike, prints one table per scenario and the targets, and writes every
sample to a JSON file. Needs ``wrk`` (Debian) and the ``bench`` extra.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis

from tests.live_server import free_port, serving

from .contenders import CONTENDERS, REDIS_URL, Contender
from .harness import peak_rss_mib, workers
from .report import report
from .scenarios import (
    JOURNEY_USERS,
    STORM_CLIENTS,
    Running,
    Sample,
    journey,
    page,
    raw_verify_rate,
    slow_clients,
    storm,
)

SCENARIOS = {
    "profile": ["ours-cookie", "ours-redis", "flask-gthread", "flask-sync", "flask-session",
                "quart-hello", "bare-asgi"],
    "login": ["ours-cookie", "ours-redis", "flask-gthread", "flask-sync", "flask-session",
              "quart-hello", "bare-asgi"],
    "journey": ["ours-cookie", "ours-redis", "flask-gthread", "flask-sync", "flask-session"],
    "storm": ["ours-cookie", "ours-redis"],
    "slow": ["ours-cookie", "flask-gthread"],
}
JOURNEY_NAMES = [f"journey{i}" for i in range(JOURNEY_USERS)]
STORM_NAMES = [f"storm{i}" for i in range(STORM_CLIENTS)]


async def _until_answering(target: Running) -> None:
    """Gunicorn says it booted a worker before the app is imported: ask until it answers."""
    deadline = time.monotonic() + 60
    while True:
        client = target.client()
        try:
            await client.request("GET", "/login")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def started(contender: Contender, workdir: Path) -> AsyncIterator[Running]:
    """One contender serving on a free port, with its benchmark accounts."""
    port = free_port()
    output: list[str] = []
    stdout = workdir / f"{contender.key}.stdout"
    async with serving(contender.command(port), contender.environment(workdir),
                       contender.ready_marker, 2, output, stdout) as process:
        logs_access = contender.app.startswith("quart_app")
        target = Running(contender, port, process.pid, stdout if logs_access else None)
        await _until_answering(target)
        if contender.flow is not None:
            for i, name in enumerate(["bench", *JOURNEY_NAMES, *STORM_NAMES]):
                client = target.client(f"127.0.3.{i % 200 + 1}")
                await contender.flow.register(client, name)
                await client.close()
        yield target


async def run_rounds(targets: dict[str, Running], scenarios: list[str], rounds: int,
                     seconds: float) -> dict[str, Any]:
    """Every scenario, round by round, contenders interleaved within each round."""
    results: dict[str, Any] = {}
    for scenario in scenarios:
        keys = [key for key in SCENARIOS[scenario] if key in targets]
        table: dict[str, list[Any]] = {key: [] for key in keys}
        for number in range(rounds):
            for key in keys:
                table[key].append(await _one(scenario, targets[key], seconds))
            if scenario == "storm":
                table.setdefault("raw argon2 verify/s", []).append(
                    await asyncio.to_thread(raw_verify_rate, 3.0, os.cpu_count() or 1))
            print(f"{scenario}: round {number + 1}/{rounds} done", file=sys.stderr)
        results[scenario] = table
    return results


async def _one(scenario: str, target: Running, seconds: float) -> Sample | tuple[Sample, Sample]:
    if scenario == "profile":
        return await page(target, "/profile", seconds, cookie=True)
    if scenario == "login":
        return await page(target, "/login", seconds, cookie=False)
    if scenario == "journey":
        return await journey(target, seconds, JOURNEY_NAMES)
    if scenario == "storm":
        return await storm(target, seconds, STORM_NAMES)
    return await slow_clients(target, seconds)


def _forget_redis_keys(contenders: list[Contender]) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for contender in contenders:
        prefix = contender.env.get("QUART_SESSION_KEY_PREFIX") or contender.env.get(
            "BENCH_KEY_PREFIX")
        if prefix:
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)


async def main() -> None:
    """Parse the options, run everything, print and save."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="length of one load window")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (at least 3)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated, from: " + ", ".join(SCENARIOS))
    parser.add_argument("--contenders", default=",".join(c.key for c in CONTENDERS),
                        help="comma-separated keys")
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    scenarios = args.scenarios.split(",")
    wanted = set(args.contenders.split(","))
    needed = {key for scenario in scenarios for key in SCENARIOS[scenario]} & wanted
    contenders = [c for c in CONTENDERS if c.key in needed]
    with tempfile.TemporaryDirectory() as tmp:
        async with contextlib.AsyncExitStack() as stack:
            targets = {c.key: await stack.enter_async_context(started(c, Path(tmp)))
                       for c in contenders}
            results = await run_rounds(targets, scenarios, args.rounds, args.seconds)
            rss = {key: max((peak_rss_mib(pid) for pid in workers(t.pid)), default=0.0)
                   for key, t in targets.items()}
    _forget_redis_keys(contenders)
    names = {c.key: c.name for c in contenders}
    machine = (f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
               f"Python {platform.python_version()}, load generator on the same cores")
    print(report(results, rss, names, machine, args))
    args.json.write_text(json.dumps({
        "machine": machine, "seconds": args.seconds, "rounds": args.rounds, "peak_rss_mib": rss,
        "results": {scenario: {key: [_plain(s) for s in samples]
                               for key, samples in table.items()}
                    for scenario, table in results.items()},
    }, indent=1))


def _plain(sample: Any) -> Any:
    if isinstance(sample, tuple):
        return [s.as_json() for s in sample]
    return sample.as_json() if isinstance(sample, Sample) else sample


if __name__ == "__main__":
    asyncio.run(main())
