"""Every unsafe request needs the session's token and must not come from another site."""

import hashlib
import secrets

import pytest
from itsdangerous import URLSafeSerializer
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.users import User

from .conftest import PASSWORD, SECRET_KEY, AuthActions, cookie_attributes, set_cookie_headers


@pytest.mark.parametrize(("path", "logged_in"),
                         [("/login", False), ("/register", False), ("/logout", True)])
@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 500, "é"])
async def test_missing_or_wrong_token_is_403(
    auth: AuthActions, user: User, path: str, logged_in: bool, token: str | None
) -> None:
    if logged_in:
        await auth.login()
    else:
        await auth.token()
    form = {"username": "alice", "password": PASSWORD}
    if token is not None:
        form["csrf_token"] = token
    response = await auth.client.post(path, form=form)
    assert response.status_code == 403
    body = await response.get_data(as_text=True)
    assert "This form was not sent by this site, or it has expired, so nothing was done." in body
    assert "Reload" not in body


async def test_token_without_a_session_is_403(client: Client, user: User) -> None:
    form = {"username": "alice", "password": PASSWORD, "csrf_token": "anything"}
    assert (await client.post("/login", form=form)).status_code == 403


async def test_token_from_another_session_is_403(
    app: Quart, auth: AuthActions, user: User
) -> None:
    foreign_token = await AuthActions(app.test_client()).token()
    await auth.token()
    form = {"username": "alice", "password": PASSWORD, "csrf_token": foreign_token}
    assert (await auth.client.post("/login", form=form)).status_code == 403


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://localhost:1234"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 303),
        ({"Sec-Fetch-Site": "none"}, 303),
        ({"Origin": "http://localhost"}, 303),
        ({}, 303),
    ],
)
async def test_only_this_origin_may_post_even_with_a_token(
    auth: AuthActions, user: User, headers: dict[str, str], status: int
) -> None:
    form = {"username": "alice", "password": PASSWORD, "csrf_token": await auth.token()}
    response = await auth.client.post("/login", form=form, headers=headers)
    assert response.status_code == status


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "https://evil.example"}])
async def test_a_cross_site_post_is_403_without_advice_to_reload(
    auth: AuthActions, user: User, headers: dict[str, str],
) -> None:
    form = {"username": "alice", "password": PASSWORD, "csrf_token": await auth.token()}
    response = await auth.client.post("/login", form=form, headers=headers)
    assert response.status_code == 403
    body = await response.get_data(as_text=True)
    assert "This form was sent from another site, so nothing was done." in body
    assert "Reload" not in body


async def test_cross_site_logout_does_not_log_out(auth: AuthActions, user: User) -> None:
    await auth.login()
    token = await auth.token("/profile")
    await auth.client.post("/logout", form={"csrf_token": token},
                           headers={"Sec-Fetch-Site": "cross-site"})
    assert (await auth.client.get("/profile")).status_code == 200


async def test_token_changes_at_login(auth: AuthActions, user: User) -> None:
    before = await auth.token()
    await auth.login()
    assert await auth.token("/profile") != before


async def test_refusals_are_logged_without_the_token(
    auth: AuthActions, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    await auth.token()
    await auth.client.post("/login", form={"csrf_token": "forged-token-value"})
    assert "refused POST /login: missing or wrong CSRF token" in caplog.text
    assert "forged-token-value" not in caplog.text


async def test_refusal_page_still_shows_who_is_logged_in(auth: AuthActions, user: User) -> None:
    await auth.login()
    response = await auth.client.post("/logout", form={"csrf_token": "forged"})
    assert response.status_code == 403
    assert "Logged in as <strong>alice</strong>" in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/login", {"GET", "HEAD", "OPTIONS", "POST"}),
     ("/register", {"GET", "HEAD", "OPTIONS", "POST"}),
     ("/logout", {"GET", "HEAD", "OPTIONS", "POST"}),
     ("/profile", {"GET", "HEAD", "OPTIONS"}),
     ("/healthz", {"GET", "HEAD", "OPTIONS"})],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_a_method_a_route_does_not_serve_is_405_with_allow(
    client: Client, path: str, allowed: set[str], method: str
) -> None:
    response = await client.open(path, method=method, json={"a": 1})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == allowed


async def test_post_to_a_page_that_takes_no_posts_is_405(client: Client) -> None:
    response = await client.post("/profile", form={"csrf_token": "x"})
    assert response.status_code == 405
    assert response.headers["Cache-Control"] == "no-store"


# --- the anonymous token's cookie -------------------------------------------------------------

CSRF_COOKIE = "__Host-csrf"


async def test_the_login_form_sets_the_anonymous_token_cookie_and_no_session(
    client: Client,
) -> None:
    response = await client.get("/login")
    assert set_cookie_headers(response) == []
    [header] = set_cookie_headers(response, CSRF_COOKIE)
    attributes = cookie_attributes(header)
    assert {"secure", "httponly"} <= set(attributes)
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "expires" not in attributes
    assert "domain" not in attributes


async def test_the_anonymous_token_is_stable_across_pages(auth: AuthActions) -> None:
    first = await auth.token("/login")
    assert await auth.token("/register") == first
    assert await auth.token("/login") == first


async def test_login_deletes_the_anonymous_token_cookie(auth: AuthActions, user: User) -> None:
    response = await auth.login()
    assert response.status_code == 303
    [header] = set_cookie_headers(response, CSRF_COOKIE)
    assert cookie_attributes(header)["max-age"] == "0"


async def test_after_login_the_anonymous_token_no_longer_counts(
    auth: AuthActions, user: User
) -> None:
    anonymous = await auth.token("/login")
    cookie = next(c.value for c in auth.client.cookie_jar if c.name == CSRF_COOKIE)  # type: ignore[union-attr]
    assert cookie is not None
    await auth.login()
    auth.client.set_cookie("localhost", CSRF_COOKIE, cookie)
    response = await auth.client.post("/logout", form={"csrf_token": anonymous})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "cookie", ["", "garbage", "InRva2VuIg.forged-signature", "x" * 300],
    ids=["empty", "garbage", "bad-signature", "oversized"],
)
async def test_a_token_cookie_this_app_did_not_sign_is_refused(
    client: Client, user: User, cookie: str
) -> None:
    client.set_cookie("localhost", CSRF_COOKIE, cookie)
    form = {"username": "alice", "password": PASSWORD, "csrf_token": "token"}
    assert (await client.post("/login", form=form)).status_code == 403


def signed_token_cookie(token: str) -> str:
    """A token cookie signed as the README says: HMAC-SHA256 under ``SECRET_KEY``."""
    return URLSafeSerializer(SECRET_KEY, salt="quart_app.csrf", signer_kwargs={
        "key_derivation": "hmac", "digest_method": hashlib.sha256}).dumps(token)


async def test_a_token_cookie_signed_with_the_secret_key_is_accepted(
    client: Client, user: User
) -> None:
    client.set_cookie("localhost", CSRF_COOKIE, signed_token_cookie("chosen-token"))
    form = {"username": "alice", "password": PASSWORD, "csrf_token": "chosen-token"}
    assert (await client.post("/login", form=form)).status_code == 303


async def test_an_unsigned_token_cookie_is_refused_even_when_the_form_repeats_it(
    client: Client, user: User
) -> None:
    client.set_cookie("localhost", CSRF_COOKIE, "chosen-token")
    form = {"username": "alice", "password": PASSWORD, "csrf_token": "chosen-token"}
    assert (await client.post("/login", form=form)).status_code == 403


async def test_a_signed_token_cookie_over_256_characters_is_refused(
    client: Client, user: User
) -> None:
    token = secrets.token_urlsafe(200)  # random, so the signed cookie cannot compress
    cookie = signed_token_cookie(token)
    assert len(cookie) > 256
    client.set_cookie("localhost", CSRF_COOKIE, cookie)
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    assert (await client.post("/login", form=form)).status_code == 403


async def test_another_visitors_token_does_not_match_this_cookie(
    app: Quart, auth: AuthActions, user: User
) -> None:
    others = await AuthActions(app.test_client()).token()
    await auth.token()
    form = {"username": "alice", "password": PASSWORD, "csrf_token": others}
    assert (await auth.client.post("/login", form=form)).status_code == 403


async def test_logout_without_a_login_to_end_needs_no_token(client: Client) -> None:
    response = await client.post("/logout", form={"csrf_token": "stale"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/logout"


async def test_logout_without_a_login_is_still_refused_cross_site(client: Client) -> None:
    response = await client.post("/logout", form={}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
