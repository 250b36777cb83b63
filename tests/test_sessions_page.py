"""People see and end their own sessions (ASVS 7.5.2), on every backend: this device first,
each under a heading naming its device, times in words, and no form where there is nothing
to end."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.devices import device_in_words
from quart_app.sessions_page import PAGE_SIZE
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
SAFARI_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
LISTED = re.compile(
    r'<li class="session(?P<current> current)?">.*?action="/sessions/(?P<handle>[0-9a-f]{32})/',
    re.DOTALL,
)
SESSION_ITEM = re.compile(r'<li class="session[^"]*">(.*?)</li>', re.DOTALL)
HEADING = re.compile(r'<h2 class="device" id="(?P<id>[^"]+)">(?P<words>.*?)</h2>', re.DOTALL)
BUTTON = re.compile(r'<button type="submit" class="secondary" id="(?P<id>[^"]+)"\s+'
                    r'aria-labelledby="(?P<labelledby>[^"]+)">(?P<text>[^<]*)</button>')
FACT = re.compile(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
PASSWORD_FIELD = re.compile(r'<input id="password"[^>]*>')
NO_OTHERS = "No other device is logged in to your account."
# Only a server-side store has other sessions to list.
on_redis = pytest.mark.parametrize("config", ["redis"], indirect=True)
# A clock pinned far from the present: Redis would expire the session by its own clock.
on_cookies = pytest.mark.parametrize("config", ["cookie"], indirect=True)


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


def words(markup: str) -> str:
    """Markup as it reads: tags removed, spacing made single."""
    return " ".join(TAG.sub("", markup).split())


def headings(listing: str) -> list[str]:
    """The heading of each listed session, in the page's order."""
    return [words(match["words"]) for match in HEADING.finditer(listing)]


def facts_listed(listing: str) -> dict[str, dict[str, str]]:
    """What the page says of each listed session ("Logged in", "From", …), by its device."""
    facts = {}
    for item in SESSION_ITEM.finditer(listing):
        heading = HEADING.search(item[1])
        assert heading, "a listed session without its heading"
        device = words(heading["words"]).removesuffix(" (this device)")
        facts[device] = {term: words(text) for term, text in FACT.findall(item[1])}
    return facts


def minute(moment: datetime) -> str:
    """A time as the page shows it (no zone chosen: UTC)."""
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
        assert "This browser: <strong>Firefox on Linux</strong>" in listing
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
    assert shown["Chrome on Android"]["Logged in"] == f"12 minutes ago ({minute(now)})"
    assert shown["Chrome on Android"]["Last active"] == (
        f"5 minutes ago ({minute(now + timedelta(minutes=7))})")
    assert shown["Firefox on Linux"]["Logged in"] == (
        f"just now ({minute(now + timedelta(minutes=12))})")


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
async def test_each_session_says_by_what_rule_it_ends_remembered_or_not(
    app: Quart, user: User, now: datetime,
) -> None:
    await login_with(app, CHROME_ANDROID, remember=True)
    laptop = await login_with(app, FIREFOX_LINUX)
    shown = facts_listed(await page(laptop))
    assert shown["Chrome on Android"]["Ends"] == (
        "after 7 days without a visit (remembered), and at "
        f"{minute(now + timedelta(days=30))} at the latest")
    assert shown["Firefox on Linux"]["Ends"] == (
        "after 30 minutes without activity, or when the browser closes")


@on_redis
async def test_this_device_comes_first_then_the_most_recently_active(
    app: Quart, user: User, now: datetime, time_machine: time_machine.TimeMachineFixture,
) -> None:
    laptop = await login_with(app, FIREFOX_LINUX)
    time_machine.shift(timedelta(seconds=20))
    await login_with(app, CHROME_ANDROID)
    time_machine.shift(timedelta(seconds=20))
    await login_with(app, SAFARI_IOS)
    time_machine.shift(timedelta(seconds=10))  # within the minute: the laptop's visit is no news
    assert headings(await page(laptop)) == [
        "Firefox on Linux (this device)", "Safari on iOS", "Chrome on Android"]


@on_redis
@pytest.mark.config(SESSION_MAX_PER_USER=100)
async def test_this_device_heads_the_first_page_however_long_ago_it_was_active(
    app: Quart, user: User, now: datetime, time_machine: time_machine.TimeMachineFixture,
) -> None:
    oldest = AuthActions(app.test_client())
    await log_in(app, oldest.client, user)
    for _ in range(PAGE_SIZE):
        time_machine.shift(timedelta(seconds=1))
        await log_in(app, app.test_client(), user)
    first, second = await page(oldest), await page(oldest, "/sessions?page=2")
    assert "21 sessions, page 1 of 2: this device first, then the most recently active." in first
    assert headings(first)[0].endswith("(this device)")
    assert "(this device)" not in second


@on_redis
async def test_each_session_is_headed_by_its_device_in_words(app: Quart, user: User) -> None:
    await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    assert sorted(headings(await page(laptop))) == [
        "Chrome on Android", "Firefox on Linux (this device)"]


def accessible_names(listing: str) -> list[str]:
    """Each log-out button's accessible name, composed from its ``aria-labelledby`` ids."""
    texts = {match["id"]: words(match["words"]) for match in HEADING.finditer(listing)}
    buttons = list(BUTTON.finditer(listing))
    texts |= {button["id"]: button["text"] for button in buttons}
    return [" ".join(texts[part] for part in button["labelledby"].split())
            for button in buttons]


@on_redis
async def test_each_log_out_button_is_named_after_its_device(app: Quart, user: User) -> None:
    await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    assert accessible_names(await page(laptop)) == [
        "Log out Firefox on Linux (this device)", "Log out Chrome on Android"]


def offers_log_out_everywhere_else(listing: str) -> bool:
    return 'action="/sessions/revoke-others"' in listing and bool(PASSWORD_FIELD.search(listing))


@on_redis
@pytest.mark.parametrize(("other_devices", "offered"), [(0, False), (1, True), (2, True)])
async def test_log_out_everywhere_else_is_offered_only_with_another_session(
    app: Quart, user: User, other_devices: int, offered: bool,
) -> None:
    for _ in range(other_devices):
        await login_with(app, CHROME_ANDROID)
    listing = await page(await login_with(app, FIREFOX_LINUX))
    assert offers_log_out_everywhere_else(listing) == offered
    assert (NO_OTHERS in listing) == (not offered)


@on_redis
async def test_a_wrong_password_shows_the_field_again_though_no_other_session_is_left(
    app: Quart, user: User,
) -> None:
    laptop = await login_with(app, FIREFOX_LINUX)
    wrong = await laptop.client.post("/sessions/revoke-others", form={
        "csrf_token": csrf_from(await page(laptop)), "password": "not it at all"})
    assert wrong.status_code == 403
    listing = await wrong.get_data(as_text=True)
    assert offers_log_out_everywhere_else(listing)
    assert NO_OTHERS not in listing


@on_cookies
async def test_on_cookies_the_page_says_this_browser_and_when_it_logged_in(
    app: Quart, user: User, clock: time_machine.TimeMachineFixture,
) -> None:
    laptop = await login_with(app, FIREFOX_LINUX)
    clock.shift(timedelta(minutes=5))
    assert ("This browser: Firefox on Linux, logged in 5 minutes ago (2026-11-02 09:00 UTC)."
            in words(await page(laptop)))


@on_cookies
async def test_on_cookies_the_page_says_others_cannot_be_listed_but_can_be_logged_out(
    app: Quart, user: User,
) -> None:
    listing = words(await page(await login_with(app, FIREFOX_LINUX)))
    assert ("Other browsers and devices where you are logged in cannot be listed here, but "
            "you can log them all out.") in listing


@on_cookies
@pytest.mark.parametrize("jargon", ["signed cookie", "Redis", "server", "operator"])
async def test_on_cookies_the_page_speaks_no_jargon(app: Quart, user: User, jargon: str) -> None:
    listing = await page(await login_with(app, FIREFOX_LINUX))
    assert jargon.lower() not in words(listing).lower()


@on_cookies
async def test_on_cookies_log_out_everywhere_else_stays_offered(app: Quart, user: User) -> None:
    listing = await page(await login_with(app, FIREFOX_LINUX))
    assert offers_log_out_everywhere_else(listing)
    assert NO_OTHERS not in listing


async def password_field_after(app: Quart, how: str) -> str:
    """The password field of "log out everywhere else" as shown: on the page, after a wrong
    password, or after a form from an older tab."""
    await login_with(app, CHROME_ANDROID)
    laptop = await login_with(app, FIREFOX_LINUX)
    listing = await page(laptop)
    if how != "page":
        response = await laptop.client.post(
            "/sessions/revoke-others", headers={"Sec-Fetch-Site": "same-origin"},
            form={"csrf_token": csrf_from(listing) if how == "wrong password" else "stale",
                  "password": "not it at all"})
        assert response.status_code == (403 if how == "wrong password" else 400)
        listing = await response.get_data(as_text=True)
    field = PASSWORD_FIELD.search(listing)
    assert field, "no password field"
    return field[0]


@pytest.mark.parametrize(("how", "invalid"), [("wrong password", True), ("page", False),
                                              ("stale form", False)])
async def test_the_password_field_is_marked_invalid_and_focused_only_when_it_was_wrong(
    app: Quart, user: User, how: str, invalid: bool,
) -> None:
    field = await password_field_after(app, how)
    assert ('aria-invalid="true"' in field, " autofocus" in field) == (invalid, invalid)


@pytest.mark.parametrize(("how", "described"), [("wrong password", True), ("page", False),
                                                ("stale form", False)])
async def test_the_password_field_is_described_by_the_error_only_when_it_was_wrong(
    app: Quart, user: User, how: str, described: bool,
) -> None:
    field = await password_field_after(app, how)
    assert ('aria-describedby="sessions-error"' in field) == described


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
     (SAFARI_IOS, "Safari on iOS"),
     ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
     ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"),
     ("python-httpx/0.28.1", "a Python script"), ("", "An unknown device"),
     ("<script>", "An unknown device")],
)
def test_devices_are_named_in_words(user_agent: str, words: str) -> None:
    assert device_in_words(user_agent) == words
