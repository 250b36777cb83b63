"""People see and end their own sessions (ASVS 7.5.2), on every backend."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.devices import device_in_words
from quart_app.users import User

from .conftest import (
    PASSWORD,
    AuthActions,
    config_on_backends,
    csrf_from,
    jar_cookie,
    log_in,
    replay,
)

CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/131.0.0.0 Mobile Safari/537.36")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
LISTED = re.compile(
    r'<li class="session(?P<current> current)?">.*?action="/sessions/(?P<handle>[0-9a-f]{32})/',
    re.DOTALL,
)
SESSION_ITEM = re.compile(r'<li class="session[^"]*">(.*?)</li>', re.DOTALL)
FACT = re.compile(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
# Only a server-side store has other sessions to list.
on_redis = pytest.mark.parametrize("config", ["redis"], indirect=True)


config = config_on_backends("cookie", "redis")


def server_side(app: Quart) -> bool:
    backend: str = app.config["SESSION_BACKEND"]
    return backend != "cookie"


async def login_with(app: Quart, user_agent: str, *, remember: bool = False,
                     address: str = "127.0.0.1") -> AuthActions:
    """A browser that logged in through the form, identifying itself as ``user_agent``."""
    browser = AuthActions(app.test_client())
    form = {"username": "alice", "password": PASSWORD, "csrf_token": await browser.token()}
    if remember:
        form["remember"] = "on"
    response = await browser.client.post("/login", form=form,
                                         headers={"User-Agent": user_agent},
                                         scope_base={"client": (address, 50000)})
    assert response.status_code == 303
    return browser


def facts_listed(listing: str) -> dict[str, dict[str, str]]:
    """What the page says of each listed session ("Logged in", "From", …), by its device."""
    facts = {}
    for item in SESSION_ITEM.finditer(listing):
        device = re.search(r"<strong>([^<]*)</strong>", item[1])
        assert device, "a listed session without its device"
        facts[device[1]] = {term: TAG.sub("", text) for term, text in FACT.findall(item[1])}
    return facts


def minute(moment: datetime) -> str:
    """A time as the page shows it."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@pytest.fixture
def now(time_machine: time_machine.TimeMachineFixture) -> datetime:
    """A stopped clock at the real present's minute (Redis expires keys by its own clock)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    time_machine.move_to(start, tick=False)
    return start


def sessions_listed(listing: str) -> list[tuple[str, bool]]:
    """(handle, is this device) of every session on a sessions page."""
    return [(match["handle"], bool(match["current"])) for match in LISTED.finditer(listing)]


async def page(browser: AuthActions, path: str = "/sessions") -> str:
    response = await browser.client.get(path, headers={"User-Agent": FIREFOX_LINUX})
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def test_the_page_needs_a_login(client: Client) -> None:
    response = await client.get("/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sessions"


async def test_it_is_reachable_from_the_profile_and_the_header(
    app: Quart, client: Client, user: User
) -> None:
    await log_in(app, client, user)
    profile = await (await client.get("/profile")).get_data(as_text=True)
    assert profile.count('href="/sessions"') == 2


async def test_every_session_of_the_user_is_listed_in_words_this_one_marked(
    app: Quart, user: User
) -> None:
    await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    listing = await page(laptop)
    if not server_side(app):
        assert "Firefox on Linux" in listing
        assert "cannot be\n    listed" in listing
        return
    assert "Chrome on Android" in listing
    assert listing.count("(this device)") == 1
    assert listing.index("Firefox on Linux") < listing.index("(this device)")


@on_redis
async def test_each_session_shows_when_it_logged_in_and_when_it_was_last_active(
    app: Quart, user: User, now: datetime, time_machine: time_machine.TimeMachineFixture,
) -> None:
    phone = await login_with(app, CHROME_ANDROID)
    time_machine.shift(timedelta(minutes=7))
    assert (await phone.client.get("/profile")).status_code == 200
    time_machine.shift(timedelta(minutes=5))
    laptop = await login_with(app, FIREFOX_LINUX)
    shown = facts_listed(await page(laptop))
    assert shown["Chrome on Android"]["Logged in"] == minute(now)
    assert shown["Chrome on Android"]["Last active"] == minute(now + timedelta(minutes=7))
    assert shown["Firefox on Linux"]["Logged in"] == minute(now + timedelta(minutes=12))


@on_redis
async def test_each_session_shows_the_client_address_it_logged_in_from(
    app: Quart, user: User,
) -> None:
    await login_with(app, CHROME_ANDROID, address="203.0.113.5")
    laptop = await login_with(app, FIREFOX_LINUX, address="198.51.100.7")
    shown = facts_listed(await page(laptop))
    assert shown["Chrome on Android"]["From"] == "203.0.113.5"
    assert shown["Firefox on Linux"]["From"] == "198.51.100.7"


@on_redis
async def test_each_session_says_whether_it_is_remembered(
    app: Quart, user: User, now: datetime,
) -> None:
    await login_with(app, CHROME_ANDROID, remember=True)
    laptop = await login_with(app, FIREFOX_LINUX)
    shown = facts_listed(await page(laptop))
    assert shown["Chrome on Android"]["Remembered"] == (
        f"yes, until {minute(now + timedelta(days=7))}")
    assert shown["Firefox on Linux"]["Remembered"] == "no, ends when the browser closes"


@on_redis
async def test_ending_another_session_logs_that_browser_out_at_its_next_click(
    app: Quart, user: User
) -> None:
    phone = await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    listing = await page(laptop)
    [phones_handle] = [handle for handle, current in sessions_listed(listing) if not current]
    response = await laptop.client.post(f"/sessions/{phones_handle}/revoke",
                                        form={"csrf_token": csrf_from(listing)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/sessions"
    assert (await phone.client.get("/profile")).status_code == 302
    assert (await laptop.client.get("/profile")).status_code == 200


@on_redis
async def test_ending_this_session_from_the_list_logs_out_here(app: Quart, user: User) -> None:
    laptop = await login_with(app, FIREFOX_LINUX)
    listing = await page(laptop)
    [(this, _)] = sessions_listed(listing)
    response = await laptop.client.post(f"/sessions/{this}/revoke",
                                        form={"csrf_token": csrf_from(listing)})
    assert response.headers["Location"] == "/logout"
    assert (await laptop.client.get("/profile")).status_code == 302


async def already_ended(browser: AuthActions, response: Any) -> None:
    """The answer to ending a session there is no more: back to the list, saying so."""
    assert response.status_code == 303
    assert response.headers["Location"] == "/sessions"
    assert "That session had already ended." in await page(browser)


@pytest.mark.parametrize("handle", ["0" * 32, "nope", "a" * 300])
async def test_a_session_that_is_not_yours_is_as_unknown_as_a_made_up_one(
    app: Quart, user: User, handle: str
) -> None:
    browser = await login_with(app, FIREFOX_LINUX)
    token = csrf_from(await page(browser))
    response = await browser.client.post(f"/sessions/{handle}/revoke",
                                         form={"csrf_token": token})
    await already_ended(browser, response)


async def phone_listed_on_laptop(app: Quart) -> tuple[AuthActions, str, str]:
    """Log in on a phone, then a laptop: the laptop, its sessions page, the phone's handle."""
    await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    listing = await page(laptop)
    [phone] = [handle for handle, current in sessions_listed(listing) if not current]
    return laptop, listing, phone


@on_redis
async def test_ending_another_session_names_the_device_that_session_was_started_on(
    app: Quart, user: User,
) -> None:
    laptop, listing, phone = await phone_listed_on_laptop(app)
    response = await laptop.client.post(f"/sessions/{phone}/revoke",
                                        form={"csrf_token": csrf_from(listing)},
                                        headers={"User-Agent": FIREFOX_LINUX})
    assert response.headers["Location"] == "/sessions"
    assert "Chrome on Android has been logged out." in await page(laptop)


@on_redis
async def test_ending_a_session_an_older_tab_still_lists_is_done_not_an_error(
    app: Quart, user: User,
) -> None:
    laptop, old_tab, phone = await phone_listed_on_laptop(app)
    token = csrf_from(old_tab)
    first = await laptop.client.post(f"/sessions/{phone}/revoke", form={"csrf_token": token})
    assert first.status_code == 303
    again = await laptop.client.post(f"/sessions/{phone}/revoke", form={"csrf_token": token})
    await already_ended(laptop, again)
    assert (await laptop.client.get("/profile")).status_code == 200


@on_redis
async def test_another_users_session_handle_ends_nothing(app: Quart, user: User) -> None:
    async with app.app_context():
        from quart_app.users import get_store

        bob = await get_store().create("bob", PASSWORD)
    bob_browser = AuthActions(app.test_client())
    await log_in(app, bob_browser.client, bob)
    [(bobs_handle, _)] = sessions_listed(await page(bob_browser))
    alice = await login_with(app, FIREFOX_LINUX)
    token = csrf_from(await page(alice))
    response = await alice.client.post(f"/sessions/{bobs_handle}/revoke",
                                       form={"csrf_token": token})
    await already_ended(alice, response)
    assert (await bob_browser.client.get("/profile")).status_code == 200


async def test_log_out_everywhere_else_needs_the_password(app: Quart, user: User) -> None:
    phone = await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    token = csrf_from(await page(laptop))
    wrong = await laptop.client.post("/sessions/revoke-others",
                                     form={"csrf_token": token, "password": "not it at all"})
    assert wrong.status_code == 403
    assert "That is not your current password." in await wrong.get_data(as_text=True)
    assert (await phone.client.get("/profile")).status_code == 200


async def test_log_out_everywhere_else_keeps_only_this_session(app: Quart, user: User) -> None:
    phone = await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    phone_cookie_copy = replay(app, jar_cookie(phone.client))
    token = csrf_from(await page(laptop))
    response = await laptop.client.post("/sessions/revoke-others",
                                        form={"csrf_token": token, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/sessions?ended"
    assert (await phone.client.get("/profile")).status_code == 302
    assert (await laptop.client.get("/profile")).status_code == 200
    assert "Every other session has been logged out." in await page(laptop, "/sessions?ended")
    assert (await phone_cookie_copy.get("/profile")).status_code == 302


@pytest.mark.parametrize(
    ("user_agent", "words"),
    [(CHROME_ANDROID, "Chrome on Android"), (FIREFOX_LINUX, "Firefox on Linux"),
     ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
      "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iOS"),
     ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
     ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"),
     ("python-httpx/0.28.1", "a Python script"), ("", "An unknown device"),
     ("<script>", "An unknown device")],
)
def test_devices_are_named_in_words(user_agent: str, words: str) -> None:
    assert device_in_words(user_agent) == words
