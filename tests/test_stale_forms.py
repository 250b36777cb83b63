"""A form from an older tab of this site (a stale token, fetch metadata same-origin) is shown
again with a fresh token and what was typed, never acted on, never a 403; the rest stay 403."""

import re
from typing import Any

import pytest
from quart import Quart

from quart_app.users import User

from .conftest import PASSWORD, AuthActions, log_in

EXPIRED = "This form had expired; check it and send it again."
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
STALE = "a token from a page shown before something changed"
TYPED_PASSWORD = "a password typed into the old tab"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def stale_post(auth: AuthActions, path: str, form: dict[str, str]) -> Any:
    return await auth.client.post(path, form={**form, "csrf_token": STALE}, headers=SAME_ORIGIN)


async def shown_again(response: Any) -> str:
    """The form page again: 400, the one line, titled as an error, a fresh token, no typed
    password."""
    assert response.status_code == 400
    body: str = await response.get_data(as_text=True)
    assert EXPIRED in body
    assert "<title>Error: " in body
    assert STALE not in TOKEN.findall(body)
    assert TOKEN.search(body)
    assert TYPED_PASSWORD not in body
    return body


async def test_a_stale_login_form_while_logged_out_is_shown_again_with_the_name(
    auth: AuthActions, user: User,
) -> None:
    await auth.token()
    response = await stale_post(auth, "/login", {"username": "alice",
                                                 "password": TYPED_PASSWORD})
    body = await shown_again(response)
    assert 'value="alice"' in body


async def test_a_stale_login_form_shown_again_gets_in_with_its_fresh_token(
    auth: AuthActions, user: User,
) -> None:
    await auth.token()
    body = await shown_again(await stale_post(auth, "/login", {"username": "alice",
                                                               "password": TYPED_PASSWORD}))
    [fresh] = TOKEN.findall(body)
    response = await auth.client.post("/login", headers=SAME_ORIGIN, form={
        "username": "alice", "password": PASSWORD, "csrf_token": fresh})
    assert response.status_code == 303


async def test_a_login_form_from_a_second_tab_after_logging_in_goes_on_to_the_profile(
    app: Quart, auth: AuthActions, user: User,
) -> None:
    second_tab = await auth.token()
    await auth.login()
    response = await auth.client.post("/login", headers=SAME_ORIGIN, form={
        "username": "alice", "password": TYPED_PASSWORD, "csrf_token": second_tab,
        "next": "/sessions"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/sessions"


async def test_a_stale_registration_form_is_shown_again_with_the_name(
    auth: AuthActions,
) -> None:
    await auth.token("/register")
    body = await shown_again(await stale_post(auth, "/register", {
        "username": "bob", "password": TYPED_PASSWORD, "confirm": TYPED_PASSWORD}))
    assert 'value="bob"' in body
    assert "Welcome" not in body


async def test_a_stale_logout_button_asks_once_more_with_a_fresh_one(
    app: Quart, auth: AuthActions, user: User,
) -> None:
    await log_in(app, auth.client, user)
    body = await shown_again(await stale_post(auth, "/logout", {}))
    assert "<h1>You are still logged in</h1>" in body
    fresh = TOKEN.findall(body)[-1]
    assert (await auth.client.get("/profile")).status_code == 200
    await auth.client.post("/logout", form={"csrf_token": fresh}, headers=SAME_ORIGIN)
    assert (await auth.client.get("/profile")).status_code == 302


@pytest.mark.parametrize(("path", "form"), [
    ("/account/password", {"current": TYPED_PASSWORD, "password": TYPED_PASSWORD + "!",
                           "confirm": TYPED_PASSWORD + "!"}),
    ("/account/delete", {"password": TYPED_PASSWORD}),
    ("/sessions/revoke-others", {"password": TYPED_PASSWORD}),
    ("/sessions/" + "0" * 32 + "/revoke", {}),
])
async def test_a_stale_account_form_is_shown_again_and_changes_nothing(
    app: Quart, auth: AuthActions, user: User, path: str, form: dict[str, str],
) -> None:
    await log_in(app, auth.client, user)
    await shown_again(await stale_post(auth, path, form))
    assert (await auth.client.get("/profile")).status_code == 200
    assert (await AuthActions(app.test_client()).login()).status_code == 303  # same password


async def test_a_stale_preferences_form_is_shown_again_with_the_choice(
    auth: AuthActions,
) -> None:
    body = await shown_again(await stale_post(auth, "/preferences", {"theme": "dark"}))
    assert re.search(r'value="dark"[^>]*checked', body)
    assert 'data-theme="dark"' not in body  # not saved


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "none"},
                                     {"Origin": "http://localhost"}])
async def test_a_stale_token_without_same_origin_fetch_metadata_is_still_refused(
    auth: AuthActions, user: User, headers: dict[str, str],
) -> None:
    await auth.token()
    response = await auth.client.post("/login", headers=headers, form={
        "username": "alice", "password": PASSWORD, "csrf_token": STALE})
    assert response.status_code == 403
