"""What only Redis's outage shows: a kill under load, and sessions that outlive the kill.

The ``redis-server`` is the test's own, killed with SIGKILL and started again
on its port. Under load every answer is a 200 or the 503 page, never another
5xx or a dropped connection; with the append-only file synced on every write
no session is lost.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import httpx
import pytest

from ..conftest import COOKIE
from ..live_server import LiveServer
from .helpers import RECOVERY_WITHIN, RETRY_AFTER, ServiceOutage, poll, registered_and_logged_in

pytestmark = pytest.mark.server

CLIENTS: Final = 8


@dataclass(frozen=True)
class Answer:
    """One answer the load got: status, ``Retry-After``, how long it took, when it came."""

    status: int
    retry_after: str | None
    seconds: float
    at: float


@dataclass
class ProfileLoad:
    """Browsers sharing one session, each loading /profile non-stop on its own connection."""

    server: LiveServer
    cookie: str
    answers: list[Answer] = field(default_factory=list)
    dropped: list[httpx.TransportError] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _answered: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def browse(self) -> None:
        """One browser's loop; a transport error (reset, closed, timed out) is recorded."""
        headers = {"Cookie": f"{COOKIE}={self.cookie}"}
        async with httpx.AsyncClient(base_url=self.server.url, headers=headers) as http:
            while not self._stop.is_set():
                try:
                    response = await http.get("/profile")
                except httpx.TransportError as error:
                    self.dropped.append(error)
                else:
                    self.answers.append(Answer(
                        response.status_code, response.headers.get("retry-after"),
                        response.elapsed.total_seconds(), time.monotonic()))
                async with self._answered:
                    self._answered.notify_all()

    async def until(self, seen: Callable[[], bool]) -> None:
        """Wait (bounded) until the answers so far are what ``seen`` wants."""
        async with asyncio.timeout(RECOVERY_WITHIN), self._answered:
            await self._answered.wait_for(seen)

    def count(self, status: int, since: float = 0.0) -> int:
        """How many answers so far had ``status`` (answered after ``since``, if given)."""
        return sum(a.status == status and a.at > since for a in self.answers)

    def stop(self) -> None:
        """Let every browser finish its request in flight and leave."""
        self._stop.set()


async def test_under_load_a_redis_kill_and_restart_gives_only_200s_and_503_pages(
    redis_down_and_up: ServiceOutage,
) -> None:
    outage = redis_down_and_up
    alice = await registered_and_logged_in(outage.server)
    assert alice.cookie is not None
    load = ProfileLoad(outage.server, alice.cookie)
    browsers = [asyncio.create_task(load.browse()) for _ in range(CLIENTS)]
    try:
        await load.until(lambda: len(load.answers) >= CLIENTS)
        await outage.down()
        await load.until(lambda: load.count(503) >= CLIENTS)
        await outage.up()
        restarted = time.monotonic()
        await load.until(lambda: load.count(200, since=restarted) >= CLIENTS)
    finally:
        load.stop()
        await asyncio.gather(*browsers)
    assert load.dropped == []
    assert {a.status for a in load.answers} == {200, 503}
    refused = [a for a in load.answers if a.status == 503]
    assert {a.retry_after for a in refused} == {RETRY_AFTER}
    assert max(a.seconds for a in refused) <= outage.answer_within


async def test_sessions_from_before_a_kill_are_still_valid_after_the_restart(
    redis_down_and_up: ServiceOutage,
) -> None:
    outage = redis_down_and_up
    alice = await registered_and_logged_in(outage.server)
    await outage.down()
    assert (await alice.request("GET", "/profile")).status_code == 503
    await outage.up()
    profile, _ = await poll(lambda: alice.request("GET", "/profile"),
                            lambda response: response.status_code != 503)
    assert profile.status_code == 200
    assert "alice" in profile.text
