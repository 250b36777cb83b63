"""Redis killed, PostgreSQL stopped: what every request that needs it gets, and the recovery.

Each test runs once against a private Redis killed with SIGKILL and once
against a private PostgreSQL stopped with ``pg_ctl stop -m immediate``; the
service comes back on the same port and the app is never restarted.
"""

import pytest

from ..test_server import statuses_from_both_workers
from .helpers import (
    ServiceOutage,
    assert_unavailable_page,
    logged,
    login_attempt,
    logins_on_both_workers,
    registered_and_logged_in,
)

pytestmark = pytest.mark.server


async def test_while_it_is_down_a_logged_in_page_is_a_503_page_with_a_log_line(
    service_down_and_up: ServiceOutage,
) -> None:
    outage = service_down_and_up
    alice = await registered_and_logged_in(outage.server)
    await outage.down()
    assert_unavailable_page(await alice.request("GET", "/profile"), outage.page_says,
                            outage.answer_within)
    assert await statuses_from_both_workers(outage.server, alice.cookie, "/profile") == {503}
    await logged(outage.server, outage.log_says)


async def test_while_it_is_down_logging_in_is_a_503_page(
    service_down_and_up: ServiceOutage,
) -> None:
    outage = service_down_and_up
    await registered_and_logged_in(outage.server)
    await outage.down()
    _, refused = await login_attempt(outage.server)
    assert_unavailable_page(refused, outage.login_page_says, outage.answer_within)


async def test_once_it_is_back_logins_work_again_on_every_worker_without_an_app_restart(
    service_down_and_up: ServiceOutage,
) -> None:
    outage = service_down_and_up
    await registered_and_logged_in(outage.server)
    await outage.down()
    await logins_on_both_workers(outage.server, 503)
    await outage.up()
    browser = await logins_on_both_workers(outage.server, 303)
    assert await statuses_from_both_workers(outage.server, browser.cookie, "/profile") == {200}
