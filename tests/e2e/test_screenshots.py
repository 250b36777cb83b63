"""Screenshots of every page on desktop, phone and in dark mode, for the README (docs/screenshots/).

Each shot also checks that the page fits the width: nothing scrolls sideways.
"""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, expect

from quart_app import create_app
from quart_app.csrf import EXPIRED
from quart_app.users import get_store

from ..conftest import PASSWORD, SECRET_KEY
from ..live_server import LiveServer
from ..outage import SqliteOutage
from .conftest import SCREENSHOTS, OtherSite, Person

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VIEWPORTS: dict[str, Any] = {
    "desktop": {"viewport": DESKTOP, "color_scheme": "light"},
    "phone": {"viewport": PHONE, "color_scheme": "light", "is_mobile": True, "has_touch": True},
    "dark": {"viewport": DESKTOP, "color_scheme": "dark"},
}


async def shoot(page: Page, name: str, viewport: str) -> None:
    """Save a full-page screenshot after checking the page does not overflow sideways."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {viewport} width"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}-{viewport}.png", full_page=True)


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_screenshots_of_the_flow_and_error_pages(
    browser: Browser, server: LiveServer, other_site: OtherSite, viewport: str
) -> None:
    context = await browser.new_context(base_url=server.url, **VIEWPORTS[viewport])
    person = Person(await context.new_page())
    page = person.page

    await page.goto("/login")
    await shoot(page, "login", viewport)
    await person.log_in(password="not the password")
    await expect(page.get_by_role("alert")).to_be_visible()
    await shoot(page, "login-failed", viewport)
    await page.goto("/register")
    await shoot(page, "register", viewport)
    await person.log_in()
    await expect(page.get_by_role("heading", name="Hello, alice")).to_be_visible()
    await shoot(page, "profile", viewport)
    await page.get_by_role("navigation").get_by_role("link", name="Preferences").click()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Preferences saved.")
    await shoot(page, "preferences", viewport)
    await page.goto("/logout")
    await shoot(page, "logout-still-logged-in", viewport)
    await person.log_out()
    await shoot(page, "logged-out", viewport)
    await page.goto("/no-such-page")
    await shoot(page, "404", viewport)
    other_site.html = (f'<form method="post" action="{server.url}/logout"></form>'
                       "<script>document.forms[0].submit()</script>")
    await page.goto(other_site.url)
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await shoot(page, "403-csrf", viewport)
    await context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_screenshots_of_what_a_person_is_told_when_something_ends(
    browser: Browser, server: LiveServer, viewport: str
) -> None:
    """Logged out from another device, a form gone stale in an older tab, the account deleted."""
    laptop = Person(await (await browser.new_context(base_url=server.url)).new_page())
    context = await browser.new_context(base_url=server.url, **VIEWPORTS[viewport])
    person = Person(await context.new_page())
    page = person.page
    await person.log_in()
    await laptop.log_in()
    await laptop.page.goto("/sessions")
    await laptop.page.get_by_label("Your password").fill(PASSWORD)
    await laptop.page.get_by_role("button", name="Log out all other sessions").click()
    await expect(laptop.page.get_by_role("status")).to_have_text(
        "Every other session has been logged out.")
    await asyncio.sleep(1.5)  # past USER_CACHE_TTL: every worker sees the new session version
    await page.goto("/profile")
    await expect(page.get_by_role("status")).to_have_text(
        "You were logged out: this session was ended from another device.")
    await shoot(page, "login-ended", viewport)

    await person.log_in()
    await page.goto("/account/password")
    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_label("New password", exact=True).fill(PASSWORD + " again")
    await page.get_by_label("Repeat the new password").fill(PASSWORD + " again")
    other_tab = Person(await context.new_page())
    await other_tab.page.goto("/profile")
    await other_tab.log_out()
    await other_tab.log_in()  # a new login: the first tab's form token is stale
    await page.get_by_role("button", name="Change password").click()
    message = page.get_by_role("alert")
    await expect(message).to_have_text(EXPIRED)
    if viewport == "phone":
        bottom = await message.evaluate(
            "element => element.getBoundingClientRect().bottom + window.scrollY")
        assert bottom <= PHONE["height"], f"the message ends {bottom}px down the phone's page"
    await shoot(page, "expired-form", viewport)

    await page.get_by_label("Your password").fill(PASSWORD)
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account is gone")
    await shoot(page, "account-deleted", viewport)
    await context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_screenshot_of_the_503_page_during_a_real_outage(
    browser: Browser, tmp_path: Path, viewport: str
) -> None:
    """The app runs in-process so the test can take its database away mid-flight.

    Chromium's requests to http://localhost are answered by that app, so the
    page is the real 503 response rendered by the real browser.
    """
    (tmp_path / "db").mkdir()
    app = create_app({"SECRET_KEY": SECRET_KEY,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'users.db'}"})
    async with app.test_app():
        client = app.test_client()

        async def answer(route: Route) -> None:
            request = route.request
            # Quart 0.23's TestClientProtocol.open lacks the default QuartClient.open gives json.
            response = await client.open(  # type: ignore[call-arg]
                request.url.removeprefix("http://localhost"), method=request.method,
                headers=dict(await request.all_headers()), data=request.post_data_buffer,
            )
            headers: Any = {k: v for k, v in response.headers.items() if k != "Content-Length"}
            await route.fulfill(status=response.status_code, headers=headers,
                                body=await response.get_data())

        context = await browser.new_context(**VIEWPORTS[viewport])
        page = await context.new_page()
        await page.route("http://localhost/**", answer)
        await page.goto("http://localhost/login")
        async with app.app_context():
            await SqliteOutage(get_store(), tmp_path / "db").start()
        await Person(page).log_in("alice", PASSWORD)
        await expect(page.get_by_role("heading", name="Temporarily unavailable")).to_be_visible()
        await shoot(page, "503-database-down", viewport)
        await context.close()
