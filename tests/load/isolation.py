"""Load with an isolation check: many users on two instances that share one Redis and PostgreSQL.

Each simulated user has an account and a cookie jar of its own and loops, for
a fixed time, through the tutorial's flow: the login form, logging in, its
profile ``k`` times, logging out. Every request goes to one of the two
instances at random, so a session made on one is used and ended on the
other. The worst bug this product could have is a page that shows one user
another user's session, so every profile page is read for the names it
shows and must show its own user's and nobody else's. Along the way every
answer must be the one the README promises (no 5xx, no other surprise), no
connection may be dropped, and the latency of each kind of request is
reported.

Three settings differ from the defaults, all allowed in production:
``LOGIN_THROTTLE``'s per-address limit is raised, because every simulated
user comes from 127.0.0.1 (the per-account limit stays as it is);
``USER_CACHE_TTL`` is 0 (``--user-cache-ttl`` changes it), so every request
loads its user from PostgreSQL and different users' loads overlap; and, unless
``--production-hashing`` is given, ``PASSWORD_HASH_PARAMETERS`` is OWASP's
floor (19 MiB, t=2) rather than the default 64 MiB, t=3, so that a login
costs ~40 ms rather than ~250 ms of CPU and users go round their loop often
enough to churn sessions. Logins are also limited to a few at a time
(``login_concurrency``): each worker lets a bounded queue wait for its one
hashing thread and answers the rest with a fast 503, which is backpressure
this test must not provoke, since it counts every 5xx as a failure.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import html
import json
import math
import random
import re
import secrets
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import pytest
from argon2 import Parameters

from quart_app.passwords import PRODUCTION, PasswordHasher
from quart_app.users import build_store

from ..conftest import csrf_from
from ..live_server import LiveServer
from ..test_scale_out import two_instances
from ..test_server import Visitor

KINDS: Final = ("GET /login", "POST /login", "GET /profile", "POST /logout", "GET /logout")
NAME_DIGITS: Final = 5
NAME_PREFIX: Final = "load-user-"
MAX_USERS: Final = 10**NAME_DIGITS - 1
# Any name of this run's users, wherever it appears in a page.
ANY_USER: Final = re.compile(re.escape(NAME_PREFIX) + rf"\d{{{NAME_DIGITS}}}")
# Where the profile page and the layout name the logged-in user (templates/profile.html, base.html).
PROFILE_NAME: Final = re.compile(r'<span class="username">([^<]*)</span>')
HEADER_NAME: Final = re.compile(r"Logged in as <strong>([^<]*)</strong>")
OWASP_MINIMUM: Final = dataclasses.replace(PRODUCTION, time_cost=2, memory_cost=19 * 1024,
                                           parallelism=1)
# A login costs a hash; real users view more than a page or two per login.
PROFILES_PER_LOGIN: Final = 20
# Logins in flight at once: even if both reach one worker, one waits behind the other's hash,
# far inside that worker's bounds (a queue of 8, 3 s each).
LOGIN_CONCURRENCY: Final = 2
ACCOUNT_CREATORS: Final = 2
REQUEST_TIMEOUT: Final = 30.0
# Below the server's keep_alive_timeout (5 s): never reuse a connection the server may be closing.
KEEPALIVE_EXPIRY: Final = 4.0
EXAMPLES: Final = 10
# Every logged-in request then asks PostgreSQL for its user, so concurrent loads of different
# users meet in each worker's single-flight: a mix-up there shows within seconds.
USER_CACHE_TTL: Final = 0.0


@dataclass(frozen=True)
class Account:
    """One simulated user's credentials."""

    username: str
    password: str


@dataclass
class Problems:
    """How many of one kind of failure happened, with the first few described."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, description: str) -> None:
        """Count one more; keep its description if it is among the first few."""
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(description)

    def __bool__(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        return f"{self.count}: " + "; ".join(self.examples) if self.count else "0"


@dataclass
class Report:
    """What a load run saw: answers and latencies per kind of request, and every failure."""

    users: int
    seconds: float
    profiles_per_login: int
    hashing: Parameters
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS},
                                              repr=False)
    by_instance: Counter[str] = field(default_factory=Counter)
    wrong_user: Problems = field(default_factory=Problems)
    server_errors: Problems = field(default_factory=Problems)
    dropped: Problems = field(default_factory=Problems)
    unexpected: Problems = field(default_factory=Problems)
    errors: Counter[str] = field(default_factory=Counter)
    cycles: int = 0
    crossed: int = 0
    logged_in: int = 0
    most_logged_in: int = 0
    sessions: set[str] = field(default_factory=set, repr=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Count a user as logged in from its login until its logout (or failure)."""
        self.logged_in += 1
        self.most_logged_in = max(self.most_logged_in, self.logged_in)
        try:
            yield
        finally:
            self.logged_in -= 1

    @property
    def clean(self) -> bool:
        """No wrong user, no 5xx, no dropped connection, no other unexpected answer."""
        return not (self.wrong_user or self.server_errors or self.dropped or self.unexpected)

    def table(self) -> str:
        """The run as a markdown table per kind of request, then the checks, for the README."""
        hashing = self.hashing
        lines = [
            f"{self.users} users, {self.seconds:g} s, {self.profiles_per_login} profile views "
            f"per login, argon2id m={hashing.memory_cost // 1024} MiB t={hashing.time_cost} "
            f"p={hashing.parallelism}: {self.cycles:,} completed cycles, "
            f"{sum(map(len, self.latencies.values())) / self.seconds:,.0f} requests/s",
            "",
            "| request | count | errors | p50 ms | p90 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, samples in self.latencies.items():
            ordered = sorted(samples)
            cells = [percentile(ordered, p) for p in (50, 90, 99, 100)]
            lines.append(f"| {kind} | {len(ordered):,} | {self.errors[kind]:,} | "
                         + " | ".join(f"{ms:,.1f}" for ms in cells) + " |")
        profiles = len(self.latencies["GET /profile"])
        lines += [
            "",
            f"- profile pages naming another user or nobody: {self.wrong_user}",
            f"- 5xx answers: {self.server_errors}",
            f"- dropped connections (transport errors): {self.dropped}",
            f"- other unexpected answers: {self.unexpected}",
            f"- profile views served by the other instance than the login: "
            f"{self.crossed:,} of {profiles:,}",
            f"- most users logged in at once: {self.most_logged_in}",
            "- requests per instance: "
            + ", ".join(f"{url} {n:,}" for url, n in sorted(self.by_instance.items())),
        ]
        return "\n".join(lines)


def percentile(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank percentile, in milliseconds, of sorted seconds (0 when there are none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


def isolation_problem(page: str, username: str) -> str | None:
    """Why a profile page is not ``username``'s alone, or None when it is.

    The page must name the user where the profile and the layout do, exactly
    (after unescaping), and no other simulated user's name may appear anywhere.
    """
    for where, pattern in (("profile", PROFILE_NAME), ("header", HEADER_NAME)):
        names = [html.unescape(name) for name in pattern.findall(page)]
        if names != [username]:
            return f"{username}'s profile names {names} in the {where}"
    others = sorted(set(ANY_USER.findall(page)) - {username})
    if others:
        return f"{username}'s profile mentions {others}"
    return None


class CycleFailedError(Exception):
    """One step went wrong (already counted): the user starts over with an empty cookie jar."""


class LoadUser(Visitor):
    """A browser that sends each request to either instance over keep-alive connections."""

    def __init__(self, account: Account, instances: Sequence[LiveServer],
                 http: httpx.AsyncClient, rng: random.Random, report: Report) -> None:
        super().__init__(instances[0])
        self.account = account
        self.instances = instances
        self.http = http
        self.rng = rng
        self.report = report

    async def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """Send to a random instance, time it, and count a transport error as a drop."""
        self.server = self.rng.choice(self.instances)
        kind = f"{method} {path}"
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method, self.server.url + path, headers=self.headers(),
                **kwargs,  # type: ignore[arg-type]
            )
        except httpx.TransportError as error:
            self.report.errors[kind] += 1
            self.report.dropped.add(f"{kind} to {self.server.url}: {type(error).__name__} {error}")
            raise CycleFailedError from error
        self.report.latencies[kind].append(time.perf_counter() - started)
        self.report.by_instance[self.server.url] += 1
        self.remember_cookies(response)
        return response

    def expect(self, response: httpx.Response, status: int, location: str | None = None) -> None:
        """The answer the README promises for this step, or a counted failure."""
        kind = f"{response.request.method} {response.request.url.path}"
        if response.status_code == status and response.headers.get("location") == location:
            return
        self.report.errors[kind] += 1
        seen = f"{kind} to {self.server.url} as {self.account.username}: {response.status_code}"
        if response.status_code >= 500:
            self.report.server_errors.add(seen)
        else:
            self.report.unexpected.add(f"{seen} Location {response.headers.get('location')}")
        raise CycleFailedError

    async def cycle(self, login_slots: asyncio.Semaphore, deadline: float,
                    profiles: int) -> bool:
        """Log in, view the profile ``profiles`` times, log out; False once time is up."""
        form = await self.request("GET", "/login")
        self.expect(form, 200)
        async with login_slots:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            logged_in = await self.request("POST", "/login", data={
                "username": self.account.username, "password": self.account.password,
                "csrf_token": csrf_from(form.text)})
            login_server = self.server
        self.expect(logged_in, 303, "/profile")
        self.check_new_session()
        with self.report.session():
            page = await self.browse(profiles, login_server)
            logged_out = await self.request("POST", "/logout",
                                            data={"csrf_token": csrf_from(page.text)})
        self.expect(logged_out, 303, "/logout")
        self.expect(await self.request("GET", "/logout"), 200)  # shows "You are logged out."
        if self.cookie is not None:
            self.report.unexpected.add(f"logout left {self.account.username} a session cookie")
            raise CycleFailedError
        self.report.cycles += 1
        return True

    async def browse(self, profiles: int, login_server: LiveServer) -> httpx.Response:
        """View the profile ``profiles`` (at least 1) times, each page checked for whose it is."""
        for _ in range(profiles):
            page = await self.request("GET", "/profile")
            self.expect(page, 200)
            self.report.crossed += self.server is not login_server
            if problem := isolation_problem(page.text, self.account.username):
                self.report.errors["GET /profile"] += 1
                self.report.wrong_user.add(f"{problem} (from {self.server.url})")
                raise CycleFailedError
        return page

    def check_new_session(self) -> None:
        """A login is given a session id never handed out before, to anyone."""
        if self.cookie is None:
            self.report.unexpected.add(f"{self.account.username} logged in without a session")
            raise CycleFailedError
        if self.cookie in self.report.sessions:
            self.report.wrong_user.add(f"{self.account.username} was given a session id "
                                       "handed out before")
            raise CycleFailedError
        self.report.sessions.add(self.cookie)

    async def run(self, login_slots: asyncio.Semaphore, deadline: float, profiles: int) -> None:
        """Go round the loop until the deadline; after a failure, start over logged out."""
        while asyncio.get_running_loop().time() < deadline:
            try:
                if not await self.cycle(login_slots, deadline, profiles):
                    return
            except CycleFailedError:
                self.cookies.clear()


async def simulate(instances: Sequence[LiveServer], accounts: Sequence[Account], *,
                   seconds: float, profiles_per_login: int, hashing: Parameters,
                   login_concurrency: int = LOGIN_CONCURRENCY, seed: int = 0) -> Report:
    """Run every account's loop at once for ``seconds``; each finishes the cycle it is in."""
    report = Report(len(accounts), seconds, profiles_per_login, hashing)
    login_slots = asyncio.Semaphore(login_concurrency)
    limits = httpx.Limits(max_connections=len(instances),
                          max_keepalive_connections=len(instances),
                          keepalive_expiry=KEEPALIVE_EXPIRY)
    # Plain http needs no certificates, but every client would load the CA bundle (~60 ms).
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        users = []
        for index, account in enumerate(accounts):
            http = await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT, verify=tls))
            users.append(LoadUser(account, instances, http, random.Random(seed + index), report))
        deadline = asyncio.get_running_loop().time() + seconds
        async with asyncio.TaskGroup() as group:
            for user in users:
                group.create_task(user.run(login_slots, deadline, profiles_per_login))
    return report


async def create_accounts(database_url: str, count: int, hashing: Parameters) -> list[Account]:
    """Make ``count`` accounts with the app's own user store, hashed as the servers hash.

    One ``quart users create`` process per account would start Python each time;
    the store in this process costs only the hashes, two at a time.
    """
    accounts = [Account(f"{NAME_PREFIX}{i:0{NAME_DIGITS}d}", secrets.token_urlsafe(16))
                for i in range(count)]
    hasher = PasswordHasher(hashing, concurrency=ACCOUNT_CREATORS)
    store = build_store(database_url.replace("postgresql://", "postgresql+asyncpg://", 1), hasher)
    pending = iter(accounts)

    async def creator() -> None:
        for account in pending:
            await store.create(account.username, account.password)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(ACCOUNT_CREATORS):
                group.create_task(creator())
    finally:
        await store.close()
        hasher.close()
    return accounts


def server_settings(hashing: Parameters, login_attempts: int,
                    user_cache_ttl: float) -> dict[str, str]:
    """What the two instances run with beyond the shared key, Redis and database."""
    costs = {"time_cost": hashing.time_cost, "memory_cost": hashing.memory_cost,
             "parallelism": hashing.parallelism}
    return {
        "QUART_PASSWORD_HASH_PARAMETERS": json.dumps(costs),
        "QUART_LOGIN_THROTTLE": json.dumps({"address": [login_attempts, 900]}),
        "QUART_USER_CACHE_TTL": json.dumps(user_cache_ttl),
    }


@contextlib.asynccontextmanager
async def service(folder: Path, hashing: Parameters, login_attempts: int,
                  user_cache_ttl: float) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two instances from ``hypercorn.toml`` (2 workers each) on one Redis and one PostgreSQL."""
    settings = server_settings(hashing, login_attempts, user_cache_ttl)
    async with two_instances(folder, settings) as pair:
        yield pair


async def load_test(folder: Path, *, users: int, seconds: float, profiles_per_login: int,
                    hashing: Parameters = OWASP_MINIMUM,
                    login_concurrency: int = LOGIN_CONCURRENCY,
                    user_cache_ttl: float = USER_CACHE_TTL, seed: int = 0) -> Report:
    """Start the service, make the accounts, run the load, stop everything: the report."""
    if not 1 <= users <= MAX_USERS or profiles_per_login < 1:
        raise ValueError(f"users must be 1 to {MAX_USERS}, profiles per login at least 1")
    # Every attempt counts against 127.0.0.1; no user could log in more often than this.
    login_attempts = max(1000, users * math.ceil(seconds) * 10)
    async with service(folder, hashing, login_attempts, user_cache_ttl) as (a, b):
        accounts = await create_accounts(a.environment["QUART_DATABASE_URL"], users, hashing)
        return await simulate((a, b), accounts, seconds=seconds,
                              profiles_per_login=profiles_per_login, hashing=hashing,
                              login_concurrency=login_concurrency, seed=seed)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of ``python -m tests.load``."""
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--profiles", type=int, default=PROFILES_PER_LOGIN,
                        help="profile views per login")
    parser.add_argument("--login-concurrency", type=int, default=LOGIN_CONCURRENCY,
                        help="logins in flight at once, across both instances")
    parser.add_argument("--production-hashing", action="store_true",
                        help="the default argon2id costs (64 MiB, t=3, p=4), not OWASP's floor")
    parser.add_argument("--user-cache-ttl", type=float, default=USER_CACHE_TTL,
                        help="USER_CACHE_TTL of the servers (the product's default is 1)")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    if not 1 <= options.users <= MAX_USERS:
        parser.error(f"--users must be 1 to {MAX_USERS}")
    if options.profiles < 1:
        parser.error("--profiles must be at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Run one load test and print its table; exit 1 unless every check held."""
    options = arguments(argv)
    with tempfile.TemporaryDirectory(prefix="quart-app-load-") as folder:
        try:
            report = asyncio.run(load_test(
                Path(folder), users=options.users, seconds=options.seconds,
                profiles_per_login=options.profiles, login_concurrency=options.login_concurrency,
                hashing=PRODUCTION if options.production_hashing else OWASP_MINIMUM,
                user_cache_ttl=options.user_cache_ttl, seed=options.seed))
        except pytest.skip.Exception as missing:  # PostgreSQL or Redis is not reachable
            print(missing.msg)
            return 2
    print(report.table())
    return 0 if report.clean else 1
