"""The tables and the targets, as Markdown, from one run's samples."""

import argparse
import statistics
from collections.abc import Callable
from typing import Any

from .scenarios import Sample

TITLES = {
    "profile": "GET /profile, logged in (wrk -t2 -c64)",
    "login": "GET /login, a new visitor (wrk -t2 -c64)",
    "journey": "journey: login → 5 x profile → logout, 4 users at once (latency per journey)",
}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float], digits: int = 0) -> str:
    """Median with min-max."""
    return (f"{_median(values):,.{digits}f} ({min(values):,.{digits}f}-"
            f"{max(values):,.{digits}f})")


def _split(samples: list[Sample]) -> str:
    shares = [s.worker_shares for s in samples if s.worker_shares]
    if not shares:
        return "-"
    return "/".join(f"{_median([row[i] for row in shares]) * 100:.0f}"
                    for i in range(min(map(len, shares))))


def _per_worker(samples: list[Sample]) -> str:
    """Requests each worker logged, summed over the rounds (our app only: it logs its pid)."""
    counts = [s.requests_per_worker for s in samples if s.requests_per_worker]
    if not counts:
        return "-"
    width = min(map(len, counts))
    return "/".join(f"{sum(row[i] for row in counts):,}" for i in range(width))


def _load_table(table: dict[str, list[Sample]], names: dict[str, str],
                rss: dict[str, float]) -> list[str]:
    cpu = {key: _median([s.cpu_us for s in samples]) for key, samples in table.items()}
    rate = {key: _median([s.rate for s in samples]) for key, samples in table.items()}
    hello, flask = cpu.get("quart-hello"), rate.get("flask-gthread")
    lines = ["| contender | req/s median (min-max) | p50 ms | p99 ms | server CPU µs/req "
             "(min-max) | CPU x Quart hello | req/s x Flask gthread | Redis CPU µs/req | "
             "peak RSS MiB/worker | worker CPU split % | requests per worker | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, samples in table.items():
        redis = [s.redis_us for s in samples if s.redis_us is not None]
        lines.append(" | ".join([
            f"| {names[key]}", _spread([s.rate for s in samples]),
            f"{_median([s.p50_ms for s in samples]):.2f}",
            f"{_median([s.p99_ms for s in samples]):.2f}",
            _spread([s.cpu_us for s in samples]),
            f"{cpu[key] / hello:.2f}x" if hello else "-",
            f"{rate[key] / flask:.2f}x" if flask else "-",
            f"{_median(redis):,.0f}" if redis else "-",
            f"{rss.get(key, 0):.0f}", _split(samples), _per_worker(samples),
            f"{sum(s.errors for s in samples)} |",
        ]))
    return lines


def _storm_table(table: dict[str, Any], names: dict[str, str]) -> list[str]:
    raw = _median(table.get("raw argon2 verify/s", []))
    lines = [f"Raw argon2id verify rate beside it (every core, nothing else running): "
             f"{raw:.1f}/s", "",
             "| contender | /profile req/s at rest | under the storm | kept | p99 ms at rest | "
             "p99 under storm | p99 x | logins/s | x raw argon2 | login p50 ms | "
             "slowest login ms | fast 503s (slowest ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, pairs in table.items():
        if key not in names:
            continue
        rest = [pair[0] for pair in pairs]
        hot = [pair[1] for pair in pairs]

        def med(samples: list[Sample], pick: Callable[[Sample], float]) -> float:
            return _median([pick(s) for s in samples])

        kept = med(hot, lambda s: s.rate) / med(rest, lambda s: s.rate)
        p99 = med(hot, lambda s: s.p99_ms) / med(rest, lambda s: s.p99_ms)
        logins = med(hot, lambda s: s.extra["logins_per_s"])
        lines.append(
            f"| {names[key]} | {med(rest, lambda s: s.rate):,.0f} | "
            f"{med(hot, lambda s: s.rate):,.0f} | {kept:.0%} | "
            f"{med(rest, lambda s: s.p99_ms):.1f} | {med(hot, lambda s: s.p99_ms):.1f} | "
            f"{p99:.1f}x | {logins:.1f} | {logins / raw:.0%} | "
            f"{med(hot, lambda s: s.extra['login_p50_ms']):.0f} | "
            f"{max(s.extra['login_max_ms'] for s in hot):.0f} | "
            f"{sum(int(s.extra['refused_503']) for s in hot)} "
            f"({max(s.extra['refused_max_ms'] for s in hot):.0f}) |")
    return lines


def _slow_table(table: dict[str, Any], names: dict[str, str]) -> list[str]:
    lines = ["| contender | /profile req/s alone | with 200 slow clients | kept | "
             "errors with slow clients |", "|---|---:|---:|---:|---:|"]
    for key, pairs in table.items():
        alone = _median([pair[0].rate for pair in pairs])
        slow = _median([pair[1].rate for pair in pairs])
        lines.append(f"| {names[key]} | {alone:,.0f} | {slow:,.0f} | {slow / alone:.0%} | "
                     f"{sum(pair[1].errors for pair in pairs)} |")
    return lines


def targets(results: dict[str, Any], rss: dict[str, float]) -> list[str]:
    """Each target of the performance issue, met or missed, with the figure."""
    lines = []

    def check(label: str, value: float, limit: float, at_most: bool, fmt: str) -> None:
        met = value <= limit if at_most else value >= limit
        bound = "≤" if at_most else "≥"
        lines.append(f"- {'met' if met else 'MISSED'}: {label} {value:{fmt}} "
                     f"(target {bound} {limit:{fmt}})")

    profile = results.get("profile", {})
    cpu = {k: _median([s.cpu_us for s in v]) for k, v in profile.items()}
    rate = {k: _median([s.rate for s in v]) for k, v in profile.items()}
    if "ours-cookie" in cpu and "quart-hello" in cpu:
        check("/profile server CPU, cookie backend x Quart hello-world",
              cpu["ours-cookie"] / cpu["quart-hello"], 1.35, True, ".2f")
    if "ours-cookie" in rate and "ours-redis" in rate:
        check("Redis backend req/s x cookie backend", rate["ours-redis"] / rate["ours-cookie"],
              0.85, False, ".2f")
    raw = _median(results.get("storm", {}).get("raw argon2 verify/s", []))
    for key, pairs in results.get("storm", {}).items():
        if key.startswith("raw"):
            continue
        rest_rate = _median([p[0].rate for p in pairs])
        check(f"storm, {key}: /profile throughput kept",
              _median([p[1].rate for p in pairs]) / rest_rate, 0.60, False, ".0%")
        check(f"storm, {key}: /profile p99 x at rest", _median([p[1].p99_ms for p in pairs])
              / _median([p[0].p99_ms for p in pairs]), 3.0, True, ".1f")
        check(f"storm, {key}: login rate x raw argon2 rate",
              _median([p[1].extra["logins_per_s"] for p in pairs]) / raw, 0.25, False, ".0%")
    for key, pairs in results.get("slow", {}).items():
        if key.startswith("ours"):
            check(f"slow clients, {key}: throughput kept", _median([p[1].rate for p in pairs])
                  / _median([p[0].rate for p in pairs]), 0.90, False, ".0%")
    for key in ("ours-cookie", "ours-redis"):
        if key in rss:
            check(f"peak RSS per worker, {key} (MiB)", rss[key], 100, True, ".0f")
    return lines


def report(results: dict[str, Any], rss: dict[str, float], names: dict[str, str],
           machine: str, args: argparse.Namespace) -> str:
    """The whole printout: one table per scenario, then the targets."""
    out = [f"{machine}; {args.rounds} interleaved rounds of {args.seconds:g} s; "
           "medians (min-max)", ""]
    for scenario, table in results.items():
        if scenario in TITLES:
            out += [f"### {TITLES[scenario]}", "", *_load_table(table, names, rss), ""]
        elif scenario == "storm":
            out += ["### login storm: 16 clients logging in non-stop while wrk -c64 reads "
                    "/profile", "", *_storm_table(table, names), ""]
        else:
            out += ["### slow clients: 200 connections trickling a request body while wrk -c64 "
                    "reads /profile", "", *_slow_table(table, names), ""]
    return "\n".join([*out, "### targets", "", *targets(results, rss)])
