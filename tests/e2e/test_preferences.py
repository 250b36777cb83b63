"""Preferences in a real Chromium: the theme, applied by the stylesheet alone, and the time
zone the pages' times are shown in."""

import re
from typing import Any, Final, Literal

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from ..live_server import LiveServer
from .conftest import Person
from .test_accessibility import axe_violations

pytestmark = pytest.mark.e2e

# The page background of each palette (style.css: --bg).
LIGHT: Final = "rgb(246, 247, 249)"
DARK: Final = "rgb(15, 20, 25)"


async def background(page: Page) -> Any:
    """The colour the page is painted in, as the browser computed it."""
    return await page.evaluate("getComputedStyle(document.body).backgroundColor")


async def person_on(browser: Browser, server: LiveServer,
                    scheme: Literal["light", "dark"]) -> tuple[BrowserContext, Person]:
    """A new browser window whose device prefers ``scheme``, and the person using it."""
    context = await browser.new_context(base_url=server.url, color_scheme=scheme)
    return context, Person(await context.new_page())


async def choose(page: Page, theme: str) -> None:
    """Tick a theme on /preferences and press Save, like a person."""
    if not page.url.endswith("/preferences"):
        await page.get_by_role("navigation").get_by_role("link", name="Preferences").click()
    await page.get_by_role("radio", name=theme).check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Preferences saved.")


async def test_dark_chosen_before_login_stays_after_it(
    browser: Browser, server: LiveServer
) -> None:
    context, person = await person_on(browser, server, "light")
    page = person.page
    await page.goto("/login")
    assert await background(page) == LIGHT
    await choose(page, "Dark")
    await expect(page.get_by_role("radio", name="Dark")).to_be_checked()
    assert await background(page) == DARK
    await page.goto("/login")
    assert await background(page) == DARK
    await person.log_in()
    await expect(page.get_by_role("heading", name="Hello, alice")).to_be_visible()
    assert await background(page) == DARK
    await context.close()


async def test_light_and_system_override_and_follow_a_dark_device(
    browser: Browser, server: LiveServer
) -> None:
    context, person = await person_on(browser, server, "dark")
    page = person.page
    await person.log_in()
    await expect(page.get_by_role("heading", name="Hello, alice")).to_be_visible()
    assert await background(page) == DARK
    await choose(page, "Light")
    assert await background(page) == LIGHT
    await page.goto("/profile")
    assert await background(page) == LIGHT
    await page.goto("/preferences")
    await choose(page, "System (as your device is set)")
    assert await background(page) == DARK
    await context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_preferences_page_passes_axe_in_both_palettes(
    browser: Browser, server: LiveServer, scheme: str
) -> None:
    context = await browser.new_context(base_url=server.url, bypass_csp=True,
                                        color_scheme=scheme)  # type: ignore[arg-type]
    person = Person(await context.new_page())
    page = person.page
    await person.log_in()
    await expect(page.get_by_role("heading", name="Hello, alice")).to_be_visible()
    await page.goto("/preferences")
    found = await axe_violations(page)
    await choose(page, "Dark" if scheme == "light" else "Light")  # the other palette, forced
    found += await axe_violations(page)
    await context.close()
    assert found == []


async def test_a_time_zone_chosen_from_the_list_shows_the_profiles_times_in_it(
    page: Page, person: Person
) -> None:
    await person.log_in()
    await expect(page.locator("#logged-in-at")).to_have_text(re.compile(r" UTC$"))
    await page.get_by_role("navigation").get_by_role("link", name="Preferences").click()
    await page.get_by_label("Time zone").select_option("Europe/Berlin")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Preferences saved.")
    await expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    await page.goto("/profile")
    await expect(page.locator("#logged-in-at")).to_have_text(re.compile(r" CES?T$"))
