"""Changing the password and deleting the account in the browser (ASVS 7.4.3, 7.5.1)."""

import logging
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.sessions.server_side import ServerSideSessionInterface
from quart_app.sessions.store import SessionStore
from quart_app.users import User, UserStore

from .conftest import PASSWORD, AuthActions, config_on_backends, jar_cookie, log_in, replay

NEW_PASSWORD = "a brand new passphrase"
# What a store keeps after an account change: run on the Redis backend only.
on_redis = pytest.mark.parametrize("config", ["redis"], indirect=True)


config = config_on_backends("cookie", "redis")


def session_store(app: Quart) -> SessionStore:
    assert isinstance(app.session_interface, ServerSideSessionInterface)
    return app.session_interface.store


async def change(browser: AuthActions, current: str = PASSWORD, new: str = NEW_PASSWORD,
                 confirm: str | None = None) -> Any:
    form = {"current": current, "password": new, "confirm": new if confirm is None else confirm,
            "csrf_token": await browser.token("/account/password")}
    return await browser.client.post("/account/password", form=form)


@pytest.mark.parametrize("path", ["/account/password"])
async def test_the_account_page_needs_a_login(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


async def test_a_password_change_ends_every_other_session_and_renews_this_one(
    app: Quart, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    other = AuthActions(app.test_client())
    await log_in(app, other.client, user)
    browser = AuthActions(app.test_client())
    before = await log_in(app, browser.client, user)
    with caplog.at_level(logging.INFO, logger="quart_app"):
        response = await change(browser)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/password?changed"
    after = jar_cookie(browser.client)
    assert after is not None
    assert after != before
    assert (await replay(app, before).get("/profile")).status_code == 302
    assert (await other.client.get("/profile")).status_code == 302
    page = await (await browser.client.get("/account/password?changed")).get_data(as_text=True)
    assert "Password changed; your other sessions have ended." in page
    assert (await browser.client.get("/profile")).status_code == 200
    assert f"event=password.changed user_id={user.id}" in caplog.text


async def test_the_new_password_logs_in_and_the_old_one_does_not(
    app: Quart, user: User
) -> None:
    browser = AuthActions(app.test_client())
    await log_in(app, browser.client, user)
    await change(browser)
    fresh = AuthActions(app.test_client())
    assert (await fresh.login(password=PASSWORD)).status_code == 401
    assert (await fresh.login(password=NEW_PASSWORD)).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "confirm", "status", "message"),
    [("not my password", NEW_PASSWORD, None, 403, "That is not your current password."),
     (PASSWORD, "short", None, 400, "at least 12"),
     (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", 400, "do not match"),
     (PASSWORD, PASSWORD, None, 400, "must differ"),
     (PASSWORD, "x" * 129, None, 400, "at most 128")],
    ids=["wrong-current", "too-short", "mismatch", "unchanged", "too-long"],
)
async def test_a_refused_change_says_why_and_changes_nothing(
    app: Quart, user: User, current: str, new: str, confirm: str | None, status: int,
    message: str,
) -> None:
    browser = AuthActions(app.test_client())
    cookie = await log_in(app, browser.client, user)
    response = await change(browser, current, new, confirm)
    assert response.status_code == status
    assert message in await response.get_data(as_text=True)
    assert (await replay(app, cookie).get("/profile")).status_code == 200


async def test_deleting_the_account_needs_the_password(app: Quart, user: User) -> None:
    browser = AuthActions(app.test_client())
    await log_in(app, browser.client, user)
    form = {"password": "not my password", "csrf_token": await browser.token("/account/password")}
    response = await browser.client.post("/account/delete", form=form)
    assert response.status_code == 403
    assert "That is not your current password." in await response.get_data(as_text=True)
    assert (await browser.client.get("/profile")).status_code == 200


async def test_a_deleted_account_and_all_its_sessions_are_gone(
    app: Quart, user: User, store: UserStore
) -> None:
    other = await log_in(app, app.test_client(), user)
    browser = AuthActions(app.test_client())
    await log_in(app, browser.client, user)
    form = {"password": PASSWORD, "csrf_token": await browser.token("/account/password")}
    response = await browser.client.post("/account/delete", form=form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/logout"
    assert "Your account is gone" in await (await browser.client.get("/logout")).get_data(
        as_text=True)
    assert (await replay(app, other).get("/profile")).status_code == 302
    assert await store.find("alice") is None


@on_redis
async def test_a_password_change_deletes_the_other_sessions_records(
    app: Quart, user: User,
) -> None:
    other = await log_in(app, app.test_client(), user)
    browser = AuthActions(app.test_client())
    before = await log_in(app, browser.client, user)
    assert (await change(browser)).status_code == 303
    after = jar_cookie(browser.client)
    store = session_store(app)
    assert await store.load(other) is None
    assert await store.load(before) is None
    assert await store.user_session_ids(user.id) == [after]


@on_redis
async def test_a_deleted_accounts_session_records_are_gone(app: Quart, user: User) -> None:
    other = await log_in(app, app.test_client(), user)
    browser = AuthActions(app.test_client())
    mine = await log_in(app, browser.client, user)
    form = {"password": PASSWORD, "csrf_token": await browser.token("/account/password")}
    assert (await browser.client.post("/account/delete", form=form)).status_code == 303
    store = session_store(app)
    assert await store.load(other) is None
    assert await store.load(mine) is None
    assert await store.user_session_ids(user.id) == []
