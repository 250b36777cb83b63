"""Post/redirect/get messages: each is shown once, on the page the redirect leads to, and
announced politely to screen readers; the page after that no longer has it."""

import re
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.users import User

from .conftest import PASSWORD, AuthActions, config_on_backends, csrf_from, log_in

FLASHES = re.compile(r'<div class="flashes" role="status" aria-live="polite">(.*?)</div>',
                     re.DOTALL)
NOTICE = re.compile(r'<p class="notice">([^<]*)</p>')
OTHER_SESSION = re.compile(
    r'<li class="session">.*?action="/sessions/(?P<handle>[0-9a-f]{32})/revoke"', re.DOTALL)
THIS_SESSION = re.compile(
    r'<li class="session current">.*?action="/sessions/(?P<handle>[0-9a-f]{32})/revoke"',
    re.DOTALL)
NEW_PASSWORD = "a brand new passphrase"
# Only a server-side store lists sessions that can be ended one by one.
on_redis = pytest.mark.parametrize("config", ["redis"], indirect=True)


config = config_on_backends("cookie", "redis")


def flashed(page: str) -> list[str]:
    """The messages in the page's one live region (none: no region at all)."""
    regions = FLASHES.findall(page)
    assert len(regions) <= 1, "more than one region of flashed messages"
    return NOTICE.findall(regions[0]) if regions else []


async def follow(client: Client, response: Any, location: str) -> str:
    """Check the 303 of a post/redirect/get and open the page it leads to."""
    assert response.status_code == 303
    assert response.headers["Location"] == location
    page = await client.get(location)
    assert page.status_code == 200
    return await page.get_data(as_text=True)


async def shown_once_then_gone(client: Client, page: str, location: str, message: str) -> None:
    """The message is on the redirect's page, exactly once, and gone on the next visit."""
    assert flashed(page) == [message]
    assert page.count(message) == 1
    again = await (await client.get(location)).get_data(as_text=True)
    assert flashed(again) == []
    assert message not in again


async def test_logging_out_says_so_once(app: Quart, auth: AuthActions, user: User) -> None:
    await log_in(app, auth.client, user)
    page = await follow(auth.client, await auth.logout(), "/logout")
    assert "<h1>You are logged out</h1>" in page
    await shown_once_then_gone(auth.client, page, "/logout", "You are logged out.")


async def test_a_password_change_says_the_other_sessions_have_ended(
    app: Quart, auth: AuthActions, user: User
) -> None:
    await log_in(app, auth.client, user)
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
            "csrf_token": await auth.token("/account/password")}
    response = await auth.client.post("/account/password", form=form)
    page = await follow(auth.client, response, "/account/password?changed")
    await shown_once_then_gone(auth.client, page, "/account/password?changed",
                               "Password changed; your other sessions have ended.")


async def test_deleting_the_account_says_so_on_the_logged_out_page(
    app: Quart, auth: AuthActions, user: User
) -> None:
    await log_in(app, auth.client, user)
    form = {"password": PASSWORD, "csrf_token": await auth.token("/account/password")}
    page = await follow(auth.client, await auth.client.post("/account/delete", form=form),
                        "/logout")
    assert "<h1>Your account is gone</h1>" in page
    assert "Log in again" not in page
    assert page.count("deleted") == 1  # said by the page once, not again in a banner
    assert "<h1>You are logged out</h1>" in await (await auth.client.get("/logout")).get_data(
        as_text=True)  # the page says so once


async def revoke_listed(auth: AuthActions, row: re.Pattern[str], which: str) -> Any:
    """Press "Log out" on the /sessions row that ``row`` finds, like a person."""
    listing = await (await auth.client.get("/sessions")).get_data(as_text=True)
    found = row.search(listing)
    assert found, f"{which} is not listed"
    return await auth.client.post(f"/sessions/{found['handle']}/revoke",
                                  form={"csrf_token": csrf_from(listing)})


@on_redis
async def test_ending_another_session_says_so(app: Quart, auth: AuthActions, user: User) -> None:
    await log_in(app, app.test_client(), user)
    await log_in(app, auth.client, user)
    response = await revoke_listed(auth, OTHER_SESSION, "the other session")
    page = await follow(auth.client, response, "/sessions")
    await shown_once_then_gone(auth.client, page, "/sessions",
                               "An unknown device has been logged out.")


@on_redis
async def test_ending_this_session_from_the_list_says_so_on_the_logged_out_page(
    app: Quart, auth: AuthActions, user: User
) -> None:
    await log_in(app, auth.client, user)
    response = await revoke_listed(auth, THIS_SESSION, "this session")
    page = await follow(auth.client, response, "/logout")
    assert "<h1>You are logged out</h1>" in page
    await shown_once_then_gone(auth.client, page, "/logout", "This device has been logged out.")


async def test_saving_preferences_says_so(client: Client) -> None:
    token = csrf_from(await (await client.get("/preferences")).get_data(as_text=True))
    response = await client.post("/preferences", form={"theme": "dark", "csrf_token": token})
    page = await follow(client, response, "/preferences")
    await shown_once_then_gone(client, page, "/preferences", "Preferences saved.")


async def test_a_page_without_messages_has_no_empty_live_region(client: Client) -> None:
    page = await (await client.get("/login")).get_data(as_text=True)
    assert 'class="flashes"' not in page
