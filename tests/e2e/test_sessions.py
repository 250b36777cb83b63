"""Seeing and ending one's sessions, and changing the password, in a real Chromium."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from ..conftest import PASSWORD, SECRET_KEY, fresh_redis_prefix
from ..live_server import LiveServer, create_user, live_server
from .conftest import Person
from .test_screenshots import VIEWPORTS, shoot

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """The app from ``hypercorn.toml`` keeping sessions in Redis, alice registered."""
    async with fresh_redis_prefix() as (url, prefix):
        env = {"QUART_SECRET_KEY": SECRET_KEY, "QUART_SESSION_BACKEND": "redis",
               "QUART_REDIS_URL": url, "QUART_SESSION_KEY_PREFIX": prefix}
        async with live_server(tmp_path / "instance", env) as running:
            await create_user(running, "alice", PASSWORD)
            yield running


async def logged_in(browser: Browser, server: LiveServer, **options: object) -> Person:
    """A separate browser profile (its own cookies), logged in as alice."""
    context: BrowserContext = await browser.new_context(base_url=server.url, **options)  # type: ignore[arg-type]
    person = Person(await context.new_page())
    await person.log_in()
    await expect(person.page.get_by_role("heading", name="Hello, alice")).to_be_visible()
    return person


async def test_one_browser_ends_the_others_session_which_is_logged_out_at_its_next_click(
    browser: Browser, redis_server: LiveServer
) -> None:
    phone = await logged_in(browser, redis_server)
    laptop = await logged_in(browser, redis_server)
    await laptop.page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    sessions = laptop.page.get_by_role("listitem")
    await expect(sessions).to_have_count(2)
    await expect(sessions.first.get_by_role("heading")).to_contain_text("(this device)")
    other = sessions.nth(1)
    device = await other.get_by_role("heading", level=2).inner_text()
    await other.get_by_role("button", name=f"Log out {device}", exact=True).click()
    await expect(laptop.page.get_by_role("listitem")).to_have_count(1)
    await expect(laptop.page.get_by_text("No other device is logged in to your account.")
                 ).to_be_visible()
    await expect(laptop.page.get_by_label("Your password")).to_have_count(0)

    await phone.page.get_by_role("navigation").get_by_role("link", name="Profile").click()
    await expect(phone.page).to_have_url(f"{redis_server.url}/login?next=/profile")


async def test_a_password_change_logs_the_other_browser_out(
    browser: Browser, server: LiveServer
) -> None:
    phone = await logged_in(browser, server)
    laptop = await logged_in(browser, server)
    await laptop.page.get_by_role("link", name="Change password or delete account").click()
    await laptop.page.get_by_label("Current password").fill(PASSWORD)
    await laptop.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await laptop.page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    await laptop.page.get_by_role("button", name="Change password").click()
    await expect(laptop.page.get_by_role("status")).to_have_text(
        "Password changed; your other sessions have ended.")

    await phone.page.reload()
    await expect(phone.page).to_have_url(f"{server.url}/login?next=/profile")
    await laptop.page.goto("/profile")
    await expect(laptop.page.get_by_role("heading", name="Hello, alice")).to_be_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_screenshots_of_the_sessions_and_account_pages(
    browser: Browser, redis_server: LiveServer, viewport: str
) -> None:
    await logged_in(browser, redis_server, user_agent=(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36"))
    person = await logged_in(browser, redis_server, **VIEWPORTS[viewport])
    await person.page.goto("/sessions")
    await expect(person.page.get_by_role("listitem")).to_have_count(2)
    await shoot(person.page, "sessions", viewport)
    await person.page.goto("/account/password")
    await shoot(person.page, "account", viewport)
