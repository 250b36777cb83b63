"""A device logged out without its owner pressing "Log out" is told why, once, on the login
page; a browser that never had that session learns nothing (issue 17, item 4).

Every case runs on both backends: the signed cookie says why from its own dates and its
session version (the users database keeps why the version went up), the server-side store
from the record it keeps past a timeout (``SESSION_END_NOTICE``) or the note a deletion left.
"""

import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app import identity
from quart_app.users import User, UserStore

from .conftest import PASSWORD, AuthActions, config_on_backends, csrf_from, log_in, replay

config = config_on_backends("cookie", "redis")
on_redis = pytest.mark.parametrize("config", ["redis"], indirect=True)

NOTICE = re.compile(r'<p class="notice" role="status" id="ended">([^<]*)</p>')
ELSEWHERE = "You were logged out: this session was ended from another device."
OPERATOR = "You were logged out by the administrator of this site."
PASSWORD_CHANGED = ("You were logged out because your password was changed. "
                    "Log in with the new one.")
DELETED = "You were logged out because your account was deleted."
IDLE = "You were logged out after 30 minutes without activity."
LIFETIME = "You were logged out: this device was remembered for 7 days without a visit."


async def notice_after_visiting(client: Client, path: str = "/profile") -> str | None:
    """Open ``path`` as a person would, follow it to the login page; the line it says."""
    response = await client.get(path, follow_redirects=True)
    body = await response.get_data(as_text=True)
    assert "<h1>Log in</h1>" in body
    match = NOTICE.search(body)
    return match.group(1) if match else None


async def post_form(client: Client, page: str, action: str, form: dict[str, str]) -> Any:
    token = csrf_from(await (await client.get(page)).get_data(as_text=True))
    return await client.post(action, form={**form, "csrf_token": token})


async def phone_and_laptop(app: Quart, user: User) -> tuple[Client, Client]:
    """Alice logged in on two devices."""
    phone, laptop = app.test_client(), app.test_client()
    await log_in(app, phone, user)
    await log_in(app, laptop, user)
    return phone, laptop


async def test_ending_every_other_session_tells_the_other_device(app: Quart, user: User) -> None:
    phone, laptop = await phone_and_laptop(app, user)
    response = await post_form(laptop, "/sessions", "/sessions/revoke-others",
                               {"password": PASSWORD})
    assert response.status_code == 303
    assert await notice_after_visiting(phone) == ELSEWHERE


@on_redis
async def test_ending_one_session_from_the_list_tells_that_device(
    app: Quart, user: User,
) -> None:
    phone, laptop = await phone_and_laptop(app, user)
    listed = await (await laptop.get("/sessions")).get_data(as_text=True)
    handles = re.findall(r'action="/sessions/([0-9a-f]{32})/revoke"', listed)
    current = re.search(r'<li class="session current">.*?/sessions/([0-9a-f]{32})/', listed,
                        re.DOTALL)
    assert current
    [other] = [h for h in handles if h != current.group(1)]
    assert (await post_form(laptop, "/sessions", f"/sessions/{other}/revoke", {})
            ).status_code == 303
    assert await notice_after_visiting(phone) == ELSEWHERE


async def test_a_password_change_tells_the_other_device(app: Quart, user: User) -> None:
    phone, laptop = await phone_and_laptop(app, user)
    new = "a brand new long passphrase"
    response = await post_form(laptop, "/account/password", "/account/password",
                               {"current": PASSWORD, "password": new, "confirm": new})
    assert response.status_code == 303
    assert await notice_after_visiting(phone) == PASSWORD_CHANGED


async def test_deleting_the_account_tells_the_other_device(app: Quart, user: User) -> None:
    phone, laptop = await phone_and_laptop(app, user)
    response = await post_form(laptop, "/account/password", "/account/delete",
                               {"password": PASSWORD})
    assert response.status_code == 303
    assert await notice_after_visiting(phone) == DELETED


@pytest.mark.parametrize(("command", "expected"), [
    pytest.param(lambda user: identity.end_every_session(user), OPERATOR, id="all"),
    pytest.param(lambda user: identity.set_password("alice", "an operator's new passphrase"),
                 PASSWORD_CHANGED, id="set-password"),
    pytest.param(lambda user: identity.remove_account("alice"), DELETED, id="delete"),
])
async def test_the_operators_commands_tell_the_device(
    app: Quart, client: Client, user: User, command: Any, expected: str,
) -> None:
    await log_in(app, client, user)
    async with app.app_context():
        await command(user)
    assert await notice_after_visiting(client) == expected


async def test_idling_past_the_timeout_is_told_with_the_timeout(
    app: Quart, client: Client, user: User, now: time_machine.TimeMachineFixture,
) -> None:
    await log_in(app, client, user)
    now.shift(timedelta(minutes=31))
    assert await notice_after_visiting(client) == IDLE


@pytest.mark.config(SESSION_IDLE_TIMEOUT=1800, SESSION_ABSOLUTE_TIMEOUT=3600)
async def test_the_absolute_limit_is_told_with_the_limit(
    app: Quart, client: Client, user: User, now: time_machine.TimeMachineFixture,
) -> None:
    await log_in(app, client, user)
    for _ in range(3):
        now.shift(timedelta(minutes=25))
        await client.get("/preferences")
    assert await notice_after_visiting(client) == (
        "You were logged out: a login lasts at most 1 hour, however active. "
        "Log in again to go on.")


async def test_a_remembered_device_unused_past_its_lifetime_is_told_so(
    app: Quart, user: User, now: time_machine.TimeMachineFixture,
) -> None:
    # The browser forgets the cookie when its Expires passes; one that kept it (a clock
    # behind, a restored profile) sends it, and learns why it no longer counts.
    cookie = await log_in(app, app.test_client(), user, remember=True)
    now.shift(timedelta(days=7, minutes=2))
    assert await notice_after_visiting(replay(app, cookie)) == LIFETIME


@pytest.mark.config(SESSION_MAX_PER_USER=2)
@on_redis
async def test_a_login_past_the_bound_tells_the_device_it_ended(
    app: Quart, user: User, now: time_machine.TimeMachineFixture,
) -> None:
    oldest = app.test_client()
    await log_in(app, oldest, user)
    for _ in range(2):
        now.shift(timedelta(minutes=2))
        await log_in(app, app.test_client(), user)
    assert await notice_after_visiting(oldest) == (
        "You were logged out: your account logged in on more than 2 devices, and this one "
        "had been unused the longest.")


async def test_the_reason_is_told_once(app: Quart, user: User) -> None:
    phone, laptop = await phone_and_laptop(app, user)
    await post_form(laptop, "/sessions", "/sessions/revoke-others", {"password": PASSWORD})
    assert await notice_after_visiting(phone) == ELSEWHERE
    assert await notice_after_visiting(phone, "/login") is None


async def test_the_reason_is_gone_after_logging_in_again(app: Quart, user: User) -> None:
    phone, laptop = await phone_and_laptop(app, user)
    await post_form(laptop, "/sessions", "/sessions/revoke-others", {"password": PASSWORD})
    await phone.get("/profile")  # told nothing yet: the login page was not opened
    assert (await AuthActions(phone).login()).status_code == 303
    body = await (await phone.get("/profile")).get_data(as_text=True)
    assert "You were logged out" not in body
    assert (await AuthActions(phone).logout()).status_code == 303
    assert await notice_after_visiting(phone, "/login") is None


async def test_a_logout_of_ones_own_is_not_explained_again(app: Quart, user: User) -> None:
    client = app.test_client()
    await log_in(app, client, user)
    assert (await AuthActions(client).logout()).status_code == 303
    assert await notice_after_visiting(client) is None


async def test_a_visitor_who_never_had_a_session_is_told_nothing(client: Client) -> None:
    assert await notice_after_visiting(client) is None


async def test_a_made_up_cookie_is_told_nothing(app: Quart, user: User) -> None:
    made_up = secrets.token_urlsafe(32)
    assert await notice_after_visiting(replay(app, made_up)) is None


async def test_another_users_ending_is_not_told_to_this_one(
    app: Quart, user: User, store: UserStore,
) -> None:
    bob = await store.create("bob", PASSWORD)
    alice_phone, _ = await phone_and_laptop(app, user)
    bob_phone = app.test_client()
    await log_in(app, bob_phone, bob)
    async with app.app_context():
        await identity.end_every_session(user)
    assert (await bob_phone.get("/profile")).status_code == 200
    assert await notice_after_visiting(alice_phone) == OPERATOR
