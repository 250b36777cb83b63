"""What only PostgreSQL's outage shows: ``/healthz`` naming it, and a restart the app never saw.

The cluster is the test run's own (``initdb`` once, in a temporary folder),
stopped with ``pg_ctl stop -m immediate`` (a crash: backends killed, crash
recovery at the next start) and started again on the same port.
"""

from typing import Final

import httpx
import pytest

from ..live_server import LiveServer
from ..test_server import statuses_from_both_workers
from .helpers import HEALTH_SHOWS_WITHIN, ServiceOutage, poll, registered_and_logged_in

pytestmark = pytest.mark.server

ALL_IS_WELL: Final = {"status": "ok", "checks": {"app": "ok", "database": "ok", "sessions": "ok",
                                                 "throttle": "ok"}}
DATABASE_IS_DOWN: Final = {"status": "unavailable", "checks": {
    "app": "ok", "database": "down", "sessions": "ok", "throttle": "ok"}}


async def health(server: LiveServer) -> httpx.Response:
    """``GET /healthz`` as a load balancer asks it: a new connection each time."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.get("/healthz")


async def test_healthz_is_a_503_naming_the_database_while_it_is_down_and_ok_once_it_is_back(
    postgres_down_and_up: ServiceOutage,
) -> None:
    outage = postgres_down_and_up
    assert (await health(outage.server)).json() == ALL_IS_WELL
    await outage.down()
    down, _ = await poll(lambda: health(outage.server), lambda r: r.status_code != 200,
                         within=HEALTH_SHOWS_WITHIN)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/json"
    assert down.json() == DATABASE_IS_DOWN
    await outage.up()
    back, _ = await poll(lambda: health(outage.server), lambda r: r.status_code != 503,
                         within=HEALTH_SHOWS_WITHIN)
    assert back.status_code == 200
    assert back.json() == ALL_IS_WELL


async def test_after_a_restart_the_app_never_saw_the_first_request_to_each_worker_succeeds(
    postgres_down_and_up: ServiceOutage,
) -> None:
    outage = postgres_down_and_up
    alice = await registered_and_logged_in(outage.server)
    assert await statuses_from_both_workers(outage.server, alice.cookie, "/profile") == {200}
    await outage.down()
    await outage.up()
    assert await statuses_from_both_workers(outage.server, alice.cookie, "/profile") == {200}
