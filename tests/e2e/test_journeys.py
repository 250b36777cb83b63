"""What a person does in a real browser, one journey per test."""

import re
import time
from datetime import datetime
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from quart_app.auth import LOGIN_FAILED

from ..conftest import PASSWORD
from ..live_server import LiveServer
from .conftest import OtherSite, Person

pytestmark = pytest.mark.e2e


async def test_register_login_profile_logout_and_back_button(
    page: Page, person: Person, server: LiveServer
) -> None:
    await page.goto("/register")
    await page.get_by_label("Username").fill("bob")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Repeat the password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(f"{server.url}/profile")
    await expect(page.get_by_role("status")).to_have_text(
        "Welcome, bob! Your account is ready and you are logged in.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hello, bob")

    await person.log_out()
    await person.log_in("bob")
    await expect(page).to_have_url(f"{server.url}/profile")
    await person.log_out()
    await page.go_back()
    await expect(page).to_have_url(f"{server.url}/login?next=/profile")
    await expect(page.get_by_text("Hello, bob")).to_have_count(0)

    await page.goto("/profile")
    await expect(page).to_have_url(f"{server.url}/login?next=/profile")


@pytest.mark.parametrize(("remember", "after_restart"), [(False, "/login"), (True, "/profile")])
async def test_remember_me_decides_what_survives_a_browser_restart(
    browser: Browser, server: LiveServer, remember: bool, after_restart: str
) -> None:
    """A restart keeps persistent cookies and drops session cookies (expires -1)."""
    first = await browser.new_context(base_url=server.url)
    person = Person(await first.new_page())
    await person.log_in(remember=remember)
    await expect(person.page).to_have_url(f"{server.url}/profile")

    state: Any = await first.storage_state()
    await first.close()
    kept = [cookie for cookie in state["cookies"] if cookie["expires"] != -1]
    second = await browser.new_context(base_url=server.url,
                                       storage_state={"cookies": kept, "origins": []})
    page = await second.new_page()
    await page.goto("/profile")
    await expect(page).to_have_url(re.compile(re.escape(server.url + after_restart)))
    await second.close()


async def test_next_round_trip(page: Page, person: Person, server: LiveServer) -> None:
    await page.goto("/profile")
    await expect(page).to_have_url(f"{server.url}/login?next=/profile")
    await person.log_in()
    await expect(page).to_have_url(f"{server.url}/profile")


async def test_wrong_password_shows_generic_message_and_keeps_username(
    page: Page, person: Person
) -> None:
    await person.log_in(password="not the right one")
    await expect(page.get_by_role("alert")).to_have_text(LOGIN_FAILED)
    await expect(page.get_by_label("Username")).to_have_value("alice")
    await expect(page.get_by_label("Password")).to_have_value("")


def auto_submitting_form(action: str, fields: dict[str, str]) -> str:
    """An attacker's page that posts a form to ``action`` as soon as it loads."""
    inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
    return (f'<form method="post" action="{action}">{inputs}</form>'
            "<script>document.forms[0].submit()</script>")


async def test_cross_site_form_cannot_log_you_out(
    page: Page, person: Person, server: LiveServer, other_site: OtherSite
) -> None:
    await person.log_in()
    other_site.html = auto_submitting_form(f"{server.url}/logout", {"csrf_token": "guess"})
    await page.goto(other_site.url)
    await expect(page).to_have_url(f"{server.url}/logout")
    await expect(page.get_by_role("alert")).to_contain_text("sent from another site")
    await page.goto("/profile")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hello, alice")


async def test_cross_site_form_cannot_log_you_in(
    page: Page, server: LiveServer, other_site: OtherSite
) -> None:
    await page.goto("/login")  # the victim has a session with a CSRF token already
    other_site.html = auto_submitting_form(
        f"{server.url}/login", {"username": "alice", "password": PASSWORD})
    await page.goto(other_site.url)
    await expect(page).to_have_url(f"{server.url}/login")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    await page.goto("/profile")
    await expect(page).to_have_url(f"{server.url}/login?next=/profile")


async def test_keyboard_only_login(page: Page, server: LiveServer) -> None:
    await page.goto("/login")
    focus_order = []
    for _ in range(4):
        focus_order.append(await page.evaluate(
            "document.activeElement.id || document.activeElement.textContent.trim()"))
        await page.keyboard.press("Tab")
    assert focus_order == ["username", "password", "remember", "Log in"]
    await page.get_by_label("Username").focus()
    await page.keyboard.type("alice")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{server.url}/profile")


async def test_session_ends_for_the_browser_as_the_profile_says(
    page: Page, person: Person
) -> None:
    await person.log_in()
    shown = await page.locator("#expires-at").get_attribute("datetime")
    assert shown is not None
    ends = datetime.fromisoformat(shown).timestamp()
    assert 29 * 60 <= ends - time.time() <= 30 * 60


async def test_a_login_form_left_open_in_a_second_tab_goes_on_to_the_profile(
    context: BrowserContext, page: Page, server: LiveServer
) -> None:
    first, second = Person(page), Person(await context.new_page())
    await first.page.goto("/login")
    await second.page.goto("/login")
    await first.log_in()
    await expect(first.page).to_have_url(f"{server.url}/profile")
    await second.log_in()  # its token is from before the login
    await expect(second.page).to_have_url(f"{server.url}/profile")
    await expect(second.page.get_by_role("heading", level=1)).to_have_text("Hello, alice")


async def test_a_log_out_button_from_an_older_tab_asks_once_more_then_logs_out(
    context: BrowserContext, page: Page, server: LiveServer
) -> None:
    old_tab, new_tab = Person(page), Person(await context.new_page())
    await old_tab.log_in()
    await new_tab.page.goto("/profile")
    await new_tab.log_out()
    await new_tab.log_in()  # a new login: the old tab's token is stale
    await old_tab.page.get_by_role("navigation").get_by_role("button", name="Log out").click()
    await expect(old_tab.page.get_by_role("heading", level=1)).to_have_text(
        "You are still logged in")
    await expect(old_tab.page.get_by_role("alert")).to_have_text(
        "This form had expired; check it and send it again.")
    await old_tab.page.get_by_role("main").get_by_role("button", name="Log out").click()
    await expect(old_tab.page.get_by_role("heading", name="You are logged out")).to_be_visible()
