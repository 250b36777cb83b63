"""Every page is usable without a mouse and passes axe-core (no serious or critical issue)."""

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from ..live_server import LiveServer
from .conftest import AXE, Person

pytestmark = pytest.mark.e2e

SEVERE = ("serious", "critical")


async def axe_violations(page: Page) -> list[str]:
    """Run axe-core in the page; describe each serious or critical violation."""
    if not AXE.exists():
        pytest.skip("axe-core is missing: npm ci --prefix tests/e2e")
    await page.add_script_tag(path=AXE)
    results: Any = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']}"
        for violation in results["violations"]
        if violation["impact"] in SEVERE
    ]


@contextlib.asynccontextmanager
async def axe_ready(browser: Browser, server: LiveServer, scheme: str) -> AsyncIterator[Person]:
    """A person in a fresh profile whose pages accept axe-core's script (CSP bypassed)."""
    context = await browser.new_context(base_url=server.url, bypass_csp=True,
                                        color_scheme=scheme)  # type: ignore[arg-type]
    try:
        yield Person(await context.new_page())
    finally:
        await context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_pages_have_no_serious_accessibility_violations(
    browser: Browser, server: LiveServer, scheme: str
) -> None:
    async with axe_ready(browser, server, scheme) as person:
        assert await violations_along_the_whole_flow(person) == []


async def violations_along_the_whole_flow(person: Person) -> list[str]:
    """Visit every page, anonymous and logged in, errors included; collect axe's findings."""
    page = person.page
    found: list[str] = []
    for path in ["/login", "/register", "/logout", "/no-such-page"]:
        await page.goto(path)
        found += await axe_violations(page)
    await person.log_in(password="wrong password here")
    found += await axe_violations(page)
    await person.log_in()
    found += await axe_violations(page)
    for path in ["/sessions", "/account/password"]:
        await page.goto(path)
        found += await axe_violations(page)
    await page.get_by_label("Current password").fill("not my password at all")
    await page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    await page.get_by_label("Repeat the new password").fill("a brand new passphrase")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("alert")).to_have_text("That is not your current password.")
    found += await axe_violations(page)
    await page.goto("/logout")
    found += await axe_violations(page)
    return found


@pytest.mark.parametrize("path", ["/login", "/register", "/sessions", "/account/password"])
async def test_every_input_has_a_label(page: Page, person: Person, path: str) -> None:
    if path in ("/sessions", "/account/password"):
        await person.log_in()
        await expect(page).to_have_url(re.compile("/profile$"))
    await page.goto(path)
    unlabelled = await page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden])')]"
        ".filter(input => input.labels.length === 0).map(input => input.name)"
    )
    assert unlabelled == []


async def test_register_errors_are_announced(page: Page) -> None:
    await page.goto("/register")
    await page.get_by_label("Username").fill("bob")
    await page.get_by_label("Password", exact=True).fill("x" * 12)
    await page.get_by_label("Repeat the password").fill("y" * 12)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_have_text("The two passwords do not match.")
