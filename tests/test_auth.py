"""The login → profile → logout flow, registration, and their answers to bad input."""

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.auth import LOGIN_FAILED
from quart_app.users import User, UserStore

from .conftest import (
    PASSWORD,
    AuthActions,
    cookie_attributes,
    csrf_from,
    jar_cookie,
    replay,
    set_cookie_headers,
)

# Bad ``next`` values: other sites, scheme tricks, control characters, over-long paths.
MALICIOUS_NEXT = [
    "//evil.example",
    "https://evil.example/",
    "http:evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/" + "a" * 3000,
]


pytestmark = pytest.mark.both_databases


async def page(response: object) -> str:
    """The body of a test response as text."""
    return await response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def shown_time(body: str, element_id: str) -> str:
    """The text of the page's ``<time id=element_id>`` element."""
    match = re.search(rf'<time [^>]*id="{element_id}"[^>]*>([^<]*)</time>', body)
    assert match, f"page has no <time id={element_id}>"
    return match.group(1)


# --- index and profile ------------------------------------------------------------------


async def test_index_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize("path", ["/", "/login"])
async def test_logged_in_users_are_sent_to_their_profile(
    auth: AuthActions, user: User, path: str
) -> None:
    await auth.login()
    response = await auth.client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


async def test_profile_redirects_anonymous_visitor_to_login_with_next(
    client: Client,
) -> None:
    response = await client.get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile"


async def test_profile_shows_the_username(auth: AuthActions, user: User) -> None:
    await auth.login()
    response = await auth.client.get("/profile")
    assert response.status_code == 200
    assert '<span class="username">alice</span>' in await page(response)


@pytest.mark.parametrize(
    ("remember", "expires"),
    [pytest.param(False, "2026-11-02 09:35 UTC", id="idle-timeout-30-minutes"),
     pytest.param(True, "2026-11-09 09:05 UTC", id="remember-me-7-days")],
)
async def test_profile_shows_login_time_and_when_the_session_ends(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
    remember: bool, expires: str,
) -> None:
    await auth.login(remember=remember)  # at START, 09:00
    clock.shift(timedelta(minutes=5))  # the visit is activity: the session ends later
    body = await page(await auth.client.get("/profile"))
    assert (shown_time(body, "logged-in-at"), shown_time(body, "expires-at")) == (
        "2026-11-02 09:00 UTC", expires)


async def test_profile_is_not_stored_by_caches(auth: AuthActions, user: User) -> None:
    await auth.login()
    response = await auth.client.get("/profile")
    assert response.headers["Cache-Control"] == "no-store"


async def test_profile_escapes_the_username(auth: AuthActions, store: UserStore) -> None:
    # The register form refuses such names; an operator's database might not.
    await store.create("x", PASSWORD)
    async with store.engine.begin() as conn:
        from quart_app.users import users_table

        await conn.execute(users_table.update().values(username="<b>x</b>"))
    await auth.login("x")
    body = await page(await auth.client.get("/profile"))
    assert "<b>x</b>" not in body
    assert "&lt;b&gt;x&lt;/b&gt;" in body


# --- login ------------------------------------------------------------------------------


async def test_login_form_has_fields_token_and_next(client: Client) -> None:
    body = await page(await client.get("/login?next=/profile"))
    for field in ('name="username"', 'name="password"', 'name="remember"', 'name="csrf_token"'):
        assert field in body
    assert 'name="next" value="/profile"' in body


async def test_login_success_redirects_to_profile_with_303(auth: AuthActions, user: User) -> None:
    response = await auth.login()
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile"


async def test_login_is_case_insensitive_for_usernames(auth: AuthActions, user: User) -> None:
    response = await auth.login("ALICE")
    assert response.status_code == 303


async def test_login_follows_a_safe_next(auth: AuthActions, user: User) -> None:
    response = await auth.login(next="/profile?tab=sessions")
    assert response.headers["Location"] == "/profile?tab=sessions"


@pytest.mark.parametrize("target", MALICIOUS_NEXT)
async def test_login_ignores_a_malicious_next(auth: AuthActions, user: User, target: str) -> None:
    response = await auth.login(next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile"


@pytest.mark.parametrize("target", MALICIOUS_NEXT)
async def test_login_page_sends_a_logged_in_user_to_the_profile_not_a_malicious_next(
    auth: AuthActions, user: User, target: str
) -> None:
    await auth.login()
    response = await auth.client.get("/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


async def test_wrong_password_gets_401_and_generic_message(auth: AuthActions, user: User) -> None:
    response = await auth.login(password="wrong password!")
    body = await page(response)
    assert response.status_code == 401
    assert LOGIN_FAILED in body
    assert 'value="alice"' in body


async def test_unknown_user_and_wrong_password_look_the_same(
    auth: AuthActions, user: User
) -> None:
    wrong = await auth.login(password="wrong password!")
    unknown = await auth.login("nobody", password="wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    wrong_body = (await page(wrong)).replace(csrf_from(await page(wrong)), "T")
    unknown_body = (await page(unknown)).replace(csrf_from(await page(unknown)), "T")
    assert wrong_body.replace('value="alice"', "") == unknown_body.replace('value="nobody"', "")


async def test_unknown_user_costs_one_password_verification(
    auth: AuthActions, store: UserStore, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    original = store.hasher.verify

    async def counting_verify(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return await original(password_hash, password)

    monkeypatch.setattr(store.hasher, "verify", counting_verify)
    await auth.login("nobody", password="wrong password!")
    await auth.login("alice", password="wrong password!")
    assert len(verified) == 2
    assert all(h.startswith("$argon2id$") for h in verified)


@pytest.mark.parametrize(
    "typed_name", ["correct horse battery!", "Tr0ub4dor&3 hunter2", "pässwörd 🐎 staple"]
)
async def test_a_password_typed_as_the_username_is_never_logged(
    auth: AuthActions, user: User, caplog: pytest.LogCaptureFixture, typed_name: str
) -> None:
    # Everything at INFO and above, and the app's own records down to DEBUG.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="quart_app"):
        response = await auth.login(typed_name, password="wrong password!")
    assert response.status_code == 401
    assert caplog.records, "the failed login was not logged at all"
    for record in caplog.records:
        assert typed_name not in record.getMessage()
        assert typed_name not in repr(vars(record))


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({}, 400),
        ({"username": "alice"}, 400),
        ({"password": PASSWORD}, 400),
        ({"username": "", "password": PASSWORD}, 400),
        ({"username": "alice", "password": ""}, 400),
        ({"username": "a" * 65, "password": PASSWORD}, 400),
        ({"username": "alice", "password": "p" * 129}, 400),
        ({"username": "alice\x00", "password": PASSWORD}, 401),
        ({"username": "ålice", "password": PASSWORD}, 401),
        ({"username": "alice", "password": "\x00" * 20}, 401),
        ({"username": "alice", "password": "🐎" * 20}, 401),
    ],
)
async def test_bad_login_forms_get_a_4xx_page(
    auth: AuthActions, user: User, form: dict[str, str], status: int
) -> None:
    response = await auth.client.post("/login", form={**form, "csrf_token": await auth.token()})
    assert response.status_code == status
    assert '<p class="error" role="alert"' in await page(response)


TOKEN_PART = b'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{t}\r\n'


# Every body carries this session's valid token ({t}) where its format would carry it.
@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        pytest.param("application/x-www-form-urlencoded",
                     b"username=%ZZ&password=%FF%FE&csrf_token={t}", 401, id="bad-escapes"),
        # Quart drops a body that is not UTF-8 whole, token included: refused as forged.
        pytest.param("application/x-www-form-urlencoded",
                     b"\xff\xfe\x00garbage&csrf_token={t}", 403, id="not-utf-8"),
        pytest.param("application/x-www-form-urlencoded",
                     b"username=a&username=b&password=p&csrf_token={t}", 401,
                     id="repeated-field"),
        pytest.param("application/x-www-form-urlencoded; charset=latin-1",
                     b"username=%E9&csrf_token={t}", 400, id="latin-1-no-password"),
        # Without a boundary no part can be found, the token's neither.
        pytest.param("multipart/form-data", TOKEN_PART + b"--x--\r\n", 403,
                     id="multipart-without-boundary"),
        pytest.param("multipart/form-data; boundary=x", TOKEN_PART + b"--x\r\ngarbage", 400,
                     id="multipart-unterminated"),
        pytest.param("multipart/form-data; boundary=x", b"garbage\r\n" + TOKEN_PART + b"--x--\r\n",
                     400, id="multipart-garbage-before-the-parts"),
        pytest.param("text/plain", b"username=alice&password=x&csrf_token={t}", 415,
                     id="not-a-form"),
    ],
)
async def test_malformed_login_bodies_get_their_exact_status(
    auth: AuthActions, user: User, content_type: str, body: bytes, status: int
) -> None:
    token = await auth.token()
    response = await auth.client.post("/login", data=body.replace(b"{t}", token.encode()),
                                      headers={"Content-Type": content_type})
    assert response.status_code == status


async def test_login_refuses_a_json_body(auth: AuthActions, user: User) -> None:
    await auth.token()
    response = await auth.client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 415


# --- logout -----------------------------------------------------------------------------


async def test_logout_redirects_to_the_logout_page(auth: AuthActions, user: User) -> None:
    await auth.login()
    response = await auth.logout()
    assert response.status_code == 303
    assert response.headers["Location"] == "/logout"


async def test_logout_page_says_logged_out(auth: AuthActions, user: User) -> None:
    await auth.login()
    await auth.logout()
    body = await page(await auth.client.get("/logout"))
    assert "You are logged out" in body
    assert 'action="/logout"' not in body


async def test_logout_page_offers_a_button_while_logged_in(auth: AuthActions, user: User) -> None:
    await auth.login()
    body = await page(await auth.client.get("/logout"))
    assert "You are still logged in" in body
    assert '<form method="post" action="/logout">' in body


async def test_logout_needs_a_post(auth: AuthActions, user: User) -> None:
    await auth.login()
    await auth.client.get("/logout")
    assert (await auth.client.get("/profile")).status_code == 200


async def test_after_logout_the_profile_sends_you_to_login(auth: AuthActions, user: User) -> None:
    await auth.login()
    await auth.logout()
    response = await auth.client.get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile"


# --- register ---------------------------------------------------------------------------


async def test_registering_logs_the_new_user_in_and_greets_them(auth: AuthActions) -> None:
    response = await auth.register("bob")
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile"
    profile = await page(await auth.client.get("/profile"))
    assert "Welcome, bob! Your account is ready and you are logged in." in profile
    assert "Logged in as <strong>bob</strong>" in profile


async def test_registering_starts_a_fresh_session(auth: AuthActions) -> None:
    await auth.client.get("/register")
    before = jar_cookie(auth.client)
    await auth.register("bob")
    after = jar_cookie(auth.client)
    assert after is not None
    assert after != before


async def test_a_registered_account_can_log_in_again(auth: AuthActions) -> None:
    await auth.register("bob")
    await auth.logout()
    assert (await auth.login("bob")).status_code == 303


async def test_register_accepts_a_unicode_passphrase(auth: AuthActions) -> None:
    assert (await auth.register("bob", "correct 🐎 battery staple")).status_code == 303
    await auth.logout()
    assert (await auth.login("bob", "correct 🐎 battery staple")).status_code == 303


async def test_register_refuses_a_taken_name_with_409(auth: AuthActions, user: User) -> None:
    response = await auth.register("Alice")
    assert response.status_code == 409
    assert "That username is taken" in await page(response)


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("", "Username must be"),
        ("a" * 65, "Username must be"),
        ("bob smith", "Username must be"),
        ("bøb", "Username must be"),
        ("bob\x00", "Username must be"),
        ("<script>", "Username must be"),
    ],
)
async def test_register_refuses_bad_usernames(
    auth: AuthActions, username: str, message: str
) -> None:
    response = await auth.register(username)
    assert response.status_code == 400
    assert message in await page(response)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 12"),
        ("elevenchars", "at least 12"),
        ("p" * 129, "at most 128"),
        ("twelve chars\x07ok", "control characters"),
        ("line one\nline two", "control characters"),
    ],
)
async def test_register_refuses_bad_passwords(
    auth: AuthActions, password: str, message: str
) -> None:
    response = await auth.register("bob", password)
    assert response.status_code == 400
    assert message in await page(response)


async def test_register_refuses_a_mismatched_confirmation(auth: AuthActions) -> None:
    response = await auth.register("bob", PASSWORD, confirm=PASSWORD + "x")
    assert response.status_code == 400
    assert "do not match" in await page(response)


async def test_register_keeps_the_typed_username_on_error(auth: AuthActions) -> None:
    response = await auth.register("bob", "short")
    assert 'value="bob"' in await page(response)


@pytest.mark.config(REGISTRATION_ENABLED=False)
async def test_register_is_404_when_disabled(client: Client) -> None:
    assert (await client.get("/register")).status_code == 404
    assert 'href="/register"' not in await page(await client.get("/login"))


# --- users that change under a live session --------------------------------------------


async def test_deleted_user_is_logged_out_at_once_in_the_same_worker(
    auth: AuthActions, store: UserStore, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    await auth.login()
    assert (await auth.client.get("/profile")).status_code == 200
    await store.delete("alice")
    assert (await auth.client.get("/profile")).status_code == 302


@pytest.mark.parametrize(
    "revoke",
    [pytest.param(lambda store: store.set_password("alice", "a brand new passphrase",
                                                   ending="password-changed"),
                  id="password-changed"),
     pytest.param(lambda store: store.delete("alice"), id="user-deleted")],
)
async def test_a_revoked_session_has_its_cookie_replaced_in_the_same_response(
    app: Quart, auth: AuthActions, store: UserStore, user: User,
    clock: time_machine.TimeMachineFixture, revoke: Any,
) -> None:
    await auth.login(remember=True)
    assert (await auth.client.get("/profile")).status_code == 200
    old_cookie = jar_cookie(auth.client)
    await revoke(store)
    response = await auth.client.get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    attributes = cookie_attributes(header)
    assert attributes["value"] not in ("", old_cookie)
    assert "max-age" not in attributes  # no longer remembered: it ends with the browser
    assert (await replay(app, attributes["value"]).get("/profile")).status_code == 302


async def test_password_change_ends_the_old_cookie_at_once_in_the_same_worker(
    app: Quart, auth: AuthActions, store: UserStore, user: User,
    clock: time_machine.TimeMachineFixture,
) -> None:
    # The clock stands still, so the worker's user memory (USER_CACHE_TTL) never expires
    # here: only forgetting the user at the change can end the old session.
    await auth.login()
    assert (await auth.client.get("/profile")).status_code == 200
    old_cookie = jar_cookie(auth.client)
    await store.set_password("alice", "a brand new passphrase", ending="password-changed")
    response = await replay(app, old_cookie).get("/profile")
    assert response.status_code == 302


async def test_a_deleted_users_cookie_is_not_accepted_as_the_next_account_registered(
    app: Quart, auth: AuthActions, user: User,
) -> None:
    # A reused id would start again at session version 1: the old cookie would match it.
    other = AuthActions(app.test_client())
    await other.login()
    old_cookie = jar_cookie(other.client)
    await auth.login()
    form = {"password": PASSWORD, "csrf_token": await auth.token("/account/password")}
    assert (await auth.client.post("/account/delete", form=form)).status_code == 303
    assert (await AuthActions(app.test_client()).register("mallory")).status_code == 303
    response = await replay(app, old_cookie).get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile"
    [header] = set_cookie_headers(response)
    replaced = cookie_attributes(header)["value"]
    assert replaced != old_cookie
    assert (await replay(app, replaced).get("/profile")).status_code == 302


# --- methods ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/profile", "/logout", "/healthz",
                                  "/sessions", "/account/password"])
@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "logged-in"])
async def test_head_answers_as_get_does(
    auth: AuthActions, user: User, path: str, logged_in: bool
) -> None:
    if logged_in:
        await auth.login()
    get = await auth.client.get(path)
    head = await auth.client.head(path)
    assert head.status_code == get.status_code
    assert head.headers.get("Location") == get.headers.get("Location")
