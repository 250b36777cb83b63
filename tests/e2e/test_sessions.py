"""Seeing and ending one's sessions, and changing the password, in a real Chromium."""

import re
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


@pytest.fixture
async def uncached_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """The default server (signed cookies, two workers), each worker asking the database on
    every request (``USER_CACHE_TTL=0``): a change made through one worker counts at once on
    the other, as the README says it does after ``USER_CACHE_TTL``, without waiting for it."""
    async with live_server(tmp_path / "instance", {"QUART_USER_CACHE_TTL": "0"}) as running:
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
    browser: Browser, uncached_server: LiveServer
) -> None:
    server = uncached_server
    phone = await logged_in(browser, server)
    laptop = await logged_in(browser, server)
    await change_the_password(laptop)

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


ENDED_ELSEWHERE = "You were logged out: this session was ended from another device."
PASSWORD_CHANGED = ("You were logged out because your password was changed. "
                    "Log in with the new one.")
ACCOUNT_DELETED = "You were logged out because your account was deleted."


@pytest.fixture(params=["cookie", "redis"])
def either_server(request: pytest.FixtureRequest) -> LiveServer:
    """The live server on the default cookie backend, then on Redis."""
    server: LiveServer = request.getfixturevalue(
        "uncached_server" if request.param == "cookie" else "redis_server")
    return server


async def phone_and_laptop(browser: Browser, server: LiveServer) -> tuple[Person, Person]:
    """alice logged in on a phone (390 by 844, touch) and on a laptop (1280 by 800)."""
    phone = await logged_in(browser, server, **VIEWPORTS["phone"])
    laptop = await logged_in(browser, server, **VIEWPORTS["desktop"])
    return phone, laptop


async def end_the_others(laptop: Person) -> None:
    """The laptop's "Log out all other sessions", with the password."""
    await laptop.page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    await laptop.page.get_by_label("Your password").fill(PASSWORD)
    await laptop.page.get_by_role("button", name="Log out all other sessions").click()
    await expect(laptop.page.get_by_role("status")).to_have_text(
        "Every other session has been logged out.")


async def change_the_password(laptop: Person) -> None:
    """The laptop changes alice's password on /account/password."""
    await laptop.page.goto("/account/password")
    await laptop.page.get_by_label("Current password").fill(PASSWORD)
    await laptop.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await laptop.page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    await laptop.page.get_by_role("button", name="Change password").click()
    await expect(laptop.page.get_by_role("status")).to_have_text(
        "Password changed; your other sessions have ended.")


async def delete_the_account(laptop: Person) -> None:
    """The laptop deletes alice's account with the password, and lands on /logout."""
    await laptop.page.goto("/account/password")
    await laptop.page.get_by_label("Your password").fill(PASSWORD)
    await laptop.page.get_by_role("button", name="Delete my account").click()
    await expect(laptop.page).to_have_url(re.compile(r"/logout$"))
    await expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Your account is gone")


async def told_once_on_the_login_page(phone: Person, server: LiveServer, words: str) -> None:
    """The phone's next click lands on the login form, which says why above the form, once."""
    await phone.page.get_by_role("navigation").get_by_role("link", name="Profile").click()
    await expect(phone.page).to_have_url(f"{server.url}/login?next=/profile")
    notice = phone.page.get_by_role("status")
    await expect(notice).to_be_visible()
    await expect(notice).to_have_text(words)
    await expect(notice).to_have_id("ended")
    await expect(notice).to_be_in_viewport()
    notice_box = await notice.bounding_box()
    form_box = await phone.page.get_by_label("Username").bounding_box()
    assert notice_box is not None
    assert form_box is not None
    assert notice_box["y"] + notice_box["height"] <= form_box["y"]

    await phone.page.goto("/login")
    await expect(phone.page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(phone.page.locator("#ended")).to_have_count(0)
    await expect(phone.page.get_by_text("You were logged out")).to_have_count(0)


async def test_a_phone_whose_session_the_laptop_ended_is_told_why_once(
    browser: Browser, either_server: LiveServer
) -> None:
    phone, laptop = await phone_and_laptop(browser, either_server)
    await end_the_others(laptop)
    await told_once_on_the_login_page(phone, either_server, ENDED_ELSEWHERE)
    await laptop.page.goto("/profile")
    await expect(laptop.page.get_by_role("heading", name="Hello, alice")).to_be_visible()


async def test_a_phone_the_laptop_logged_out_by_name_is_told_why_once(
    browser: Browser, redis_server: LiveServer
) -> None:
    phone, laptop = await phone_and_laptop(browser, redis_server)
    await laptop.page.goto("/sessions")
    other = laptop.page.get_by_role("listitem").nth(1)
    device = await other.get_by_role("heading", level=2).inner_text()
    await other.get_by_role("button", name=f"Log out {device}", exact=True).click()
    await expect(laptop.page.get_by_role("listitem")).to_have_count(1)
    await told_once_on_the_login_page(phone, redis_server, ENDED_ELSEWHERE)


async def test_a_phone_logged_out_by_a_password_change_is_told_why_once(
    browser: Browser, either_server: LiveServer
) -> None:
    phone, laptop = await phone_and_laptop(browser, either_server)
    await change_the_password(laptop)
    await told_once_on_the_login_page(phone, either_server, PASSWORD_CHANGED)
    await phone.log_in(password=NEW_PASSWORD)
    await expect(phone.page.get_by_role("heading", name="Hello, alice")).to_be_visible()


async def test_a_phone_logged_out_by_the_account_deletion_is_told_why_once(
    browser: Browser, either_server: LiveServer
) -> None:
    phone, laptop = await phone_and_laptop(browser, either_server)
    await delete_the_account(laptop)
    await told_once_on_the_login_page(phone, either_server, ACCOUNT_DELETED)
