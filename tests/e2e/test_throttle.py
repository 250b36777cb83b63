"""Login throttling as a person meets it in a real Chromium: the 429 page says how long to wait."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from ..conftest import PASSWORD, SECRET_KEY
from ..live_server import LiveServer, create_user, live_server
from .conftest import Person
from .test_accessibility import axe_ready, axe_violations
from .test_screenshots import VIEWPORTS, shoot

pytestmark = pytest.mark.e2e

LIMIT = 3


@pytest.fixture
async def strict_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """The app from ``hypercorn.toml`` allowing 3 login attempts per account in 15 minutes."""
    env = {"QUART_SECRET_KEY": SECRET_KEY,
           "QUART_LOGIN_THROTTLE": f'{{"account": [{LIMIT}, 900]}}'}
    async with live_server(tmp_path / "instance", env) as running:
        await create_user(running, "alice", PASSWORD)
        yield running


# With 3 or fewer attempts left, each failure says how many (README, "Routes").
WARNINGS = [
    "Incorrect username or password. 2 more wrong passwords and logging in to this account is "
    "paused for 15 minutes.",
    "Incorrect username or password. 1 more wrong password and logging in to this account is "
    "paused for 15 minutes.",
    "Incorrect username or password. Logging in to this account is now paused for 15 minutes.",
]


async def use_up_the_attempts(person: Person) -> None:
    """Fail as many logins as the account allows, each warned; the next one is throttled."""
    for warning in WARNINGS[-LIMIT:]:
        await person.log_in(password="not the password")
        await expect(person.page.get_by_role("alert")).to_have_text(warning)


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_past_the_limit_the_page_says_how_long_to_wait_even_for_the_right_password(
    browser: Browser, strict_server: LiveServer, viewport: str
) -> None:
    context = await browser.new_context(base_url=strict_server.url, **VIEWPORTS[viewport])
    person = Person(await context.new_page())
    await use_up_the_attempts(person)
    async with person.page.expect_response("**/login") as answer:
        await person.log_in(password=PASSWORD)
    response = await answer.value
    assert response.status == 429
    assert 841 <= int(response.headers["retry-after"]) <= 900  # what is left of the window
    await expect(person.page.get_by_role("heading", name="Please wait")).to_be_visible()
    await expect(person.page.get_by_role("alert")).to_have_text(
        "Too many failed logins for this account. Logging in to it is paused for 15 minutes; "
        "then the right password works again.")
    await shoot(person.page, "429-throttled", viewport)
    await context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_429_page_has_no_serious_accessibility_violations(
    browser: Browser, strict_server: LiveServer, scheme: str
) -> None:
    async with axe_ready(browser, strict_server, scheme) as person:
        await use_up_the_attempts(person)
        await person.log_in(password=PASSWORD)
        await expect(person.page.get_by_role("heading", name="Please wait")).to_be_visible()
        assert await axe_violations(person.page) == []
