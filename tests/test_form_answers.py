"""What a person sees after sending a form: names trimmed, a warning before the pause, a way
out for a forgotten password, and the field to fix marked, described and focused (issue 17:
items 9, 11 and 12)."""

import re
from typing import Any

import pytest
import time_machine
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.users import User

from .conftest import PASSWORD, AuthActions, config_on_backends, csrf_from, log_in

# The counters behind the warning live in the users database (cookie) or Redis (redis).
config = config_on_backends("cookie", "redis")

SPACED_NAMES = [" alice", "alice ", "\talice\n", "\u00a0alice\u00a0", "  ALICE  "]


async def text(response: Any) -> str:
    """The body of a test response."""
    return await response.get_data(as_text=True)  # type: ignore[no-any-return]


def field(body: str, element_id: str) -> str:
    """The opening tag of the ``<input id=element_id>``."""
    match = re.search(rf'<input id="{element_id}"[^>]*>', body)
    assert match, f"no input with id {element_id}"
    return match.group(0)


def title(body: str) -> str:
    """The page's ``<title>``."""
    match = re.search(r"<title>([^<]*)</title>", body)
    assert match
    return match.group(1)


# --- item 11: the spaces a phone keyboard or autofill adds ------------------------------


@pytest.mark.parametrize("typed", SPACED_NAMES)
async def test_a_name_with_spaces_around_it_logs_in(
    auth: AuthActions, user: User, typed: str,
) -> None:
    response = await auth.login(typed)
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile"


@pytest.mark.parametrize("typed", [" bob", "bob ", "\tbob\n", "\u00a0bob\u00a0"])
async def test_a_name_with_spaces_around_it_registers_without_them(
    auth: AuthActions, client: Client, typed: str,
) -> None:
    response = await auth.register(typed)
    assert response.status_code == 303
    profile = await text(await client.get("/profile"))
    assert '<span class="username">bob</span>' in profile


async def test_a_space_inside_a_name_is_still_refused(auth: AuthActions) -> None:
    response = await auth.register("bob smith")
    assert response.status_code == 400


# --- item 9: a way out, and a warning before the pause -----------------------------------


async def test_the_login_form_says_what_to_do_about_a_forgotten_password(client: Client) -> None:
    body = await text(await client.get("/login"))
    assert ('<p class="hint" id="forgot-password">Forgot it? Ask the administrator of this '
            "site.</p>") in body
    assert 'aria-describedby="forgot-password"' in field(body, "password")


@pytest.mark.config(FORGOT_PASSWORD_TEXT="Forgot it? Write to help@example.com & we reset it.")
async def test_the_forgotten_password_line_is_the_operators_own_escaped(client: Client) -> None:
    body = await text(await client.get("/login"))
    assert "Forgot it? Write to help@example.com &amp; we reset it." in body


@pytest.mark.config(FORGOT_PASSWORD_TEXT="")
async def test_an_empty_forgotten_password_line_shows_nothing(client: Client) -> None:
    body = await text(await client.get("/login"))
    assert 'id="forgot-password"' not in body
    assert "aria-describedby" not in field(body, "password")


async def wrong_logins(auth: AuthActions, name: str, times: int) -> str:
    """Type a wrong password for ``name`` this many times; the last page's message."""
    body = ""
    for _ in range(times):
        body = await text(await auth.login(name, PASSWORD + "!"))
    match = re.search(r'<p class="error" role="alert" id="login-error">([^<]*)</p>', body)
    assert match
    return match.group(1)


# The default account limit is 10 failed logins per 15 minutes (LOGIN_THROTTLE, README).
@pytest.mark.parametrize(("failures", "message"), [
    (6, "Incorrect username or password."),
    (7, "Incorrect username or password. 3 more wrong passwords and logging in to this "
        "account is paused for 15 minutes."),
    (9, "Incorrect username or password. 1 more wrong password and logging in to this "
        "account is paused for 15 minutes."),
    (10, "Incorrect username or password. Logging in to this account is now paused for "
         "15 minutes."),
])
@pytest.mark.parametrize("name", ["alice", "nobody"])
async def test_a_failed_login_warns_when_few_attempts_are_left(
    auth: AuthActions, user: User, now: time_machine.TimeMachineFixture,
    name: str, failures: int, message: str,
) -> None:
    assert await wrong_logins(auth, name, failures) == message


# Redis counts a window down by its own clock, which a test cannot move.
@pytest.mark.parametrize("config", ["cookie"], indirect=True)
async def test_the_warning_counts_down_the_window_that_is_left(
    auth: AuthActions, user: User, now: time_machine.TimeMachineFixture,
) -> None:
    await wrong_logins(auth, "alice", 6)
    now.shift(10 * 60)
    assert (await wrong_logins(auth, "alice", 1)).endswith(
        "3 more wrong passwords and logging in to this account is paused for 5 minutes.")


async def test_a_right_password_starts_the_count_again(
    auth: AuthActions, app: Quart, user: User, now: time_machine.TimeMachineFixture,
) -> None:
    await wrong_logins(auth, "alice", 8)
    assert (await auth.login()).status_code == 303
    other = AuthActions(app.test_client())
    assert await wrong_logins(other, "alice", 1) == "Incorrect username or password."


# --- item 12: the field that needs fixing ------------------------------------------------


async def refused_login(auth: AuthActions, username: str, password: str) -> str:
    return await text(await auth.login(username, password))


@pytest.mark.parametrize(("username", "password", "invalid"), [
    ("alice", "wrong password here", "password"),
    ("", PASSWORD, "username"),
    ("alice", "", "password"),
    ("a" * 65, PASSWORD, "username"),
])
async def test_a_refused_login_marks_and_focuses_the_field_to_fix(
    auth: AuthActions, user: User, username: str, password: str, invalid: str,
) -> None:
    body = await refused_login(auth, username, password)
    tag = field(body, invalid)
    assert 'aria-invalid="true"' in tag
    assert "login-error" in re.search(r'aria-describedby="([^"]*)"', tag).group(1)  # type: ignore[union-attr]
    assert " autofocus" in tag
    assert body.count("autofocus") == 1
    assert body.count('aria-invalid="true"') == 1


@pytest.mark.parametrize(("form", "invalid"), [
    ({"username": "bob smith"}, "username"),
    ({"username": "alice"}, "username"),  # taken
    ({"password": "short"}, "password"),
    ({"confirm": "something else entirely"}, "confirm"),
])
async def test_a_refused_registration_marks_and_focuses_the_field_to_fix(
    client: Client, user: User, form: dict[str, str], invalid: str,
) -> None:
    token = csrf_from(await text(await client.get("/register")))
    sent = {"username": "bob", "password": PASSWORD, "confirm": PASSWORD, **form,
            "csrf_token": token}
    if "password" in form and "confirm" not in form:
        sent["confirm"] = form["password"]
    body = await text(await client.post("/register", form=sent))
    tag = field(body, invalid)
    assert 'aria-invalid="true"' in tag
    assert "register-error" in tag
    assert " autofocus" in tag
    assert body.count("autofocus") == 1


@pytest.mark.parametrize(("path", "form", "invalid", "error_id"), [
    ("/account/password", {"current": "not my password!!", "password": "a new long passphrase",
                           "confirm": "a new long passphrase"}, "current", "password-error"),
    ("/account/password", {"current": PASSWORD, "password": "short", "confirm": "short"},
     "new-password", "password-error"),
    ("/account/password", {"current": PASSWORD, "password": "a new long passphrase",
                           "confirm": "another long passphrase"}, "confirm", "password-error"),
    ("/account/delete", {"password": "not my password!!"}, "delete-password", "delete-error"),
])
async def test_a_refused_account_form_marks_and_focuses_the_field_to_fix(
    app: Quart, client: Client, user: User, path: str, form: dict[str, str], invalid: str,
    error_id: str,
) -> None:
    await log_in(app, client, user)
    token = csrf_from(await text(await client.get("/account/password")))
    body = await text(await client.post(path, form={**form, "csrf_token": token}))
    tag = field(body, invalid)
    assert 'aria-invalid="true"' in tag
    assert error_id in tag
    assert " autofocus" in tag
    assert body.count("autofocus") == 1


async def test_a_refused_delete_is_announced_at_the_top_of_the_account_page(
    app: Quart, client: Client, user: User,
) -> None:
    await log_in(app, client, user)
    token = csrf_from(await text(await client.get("/account/password")))
    body = await text(await client.post(
        "/account/delete", form={"password": "not my password!!", "csrf_token": token}))
    alert = body.index('role="alert"')
    assert alert < body.index("<h1>Change your password</h1>")
    assert '<a href="#delete-password">To the delete form</a>' in body[alert:]


@pytest.mark.parametrize(("path", "form", "expected"), [
    ("/login", {"username": "alice", "password": "wrong password here"}, "Error: Log in · "),
    ("/register", {"username": "bob smith", "password": PASSWORD, "confirm": PASSWORD},
     "Error: Register · "),
])
async def test_a_refused_form_titles_its_page_with_error(
    client: Client, user: User, path: str, form: dict[str, str], expected: str,
) -> None:
    token = csrf_from(await text(await client.get(path)))
    body = await text(await client.post(path, form={**form, "csrf_token": token}))
    assert title(body).startswith(expected)


@pytest.mark.parametrize("path", ["/login", "/register", "/account/password"])
async def test_a_form_page_without_an_error_has_no_error_title(
    app: Quart, client: Client, user: User, path: str,
) -> None:
    if path == "/account/password":
        await log_in(app, client, user)
    body = await text(await client.get(path))
    assert not title(body).startswith("Error")
    assert "aria-invalid" not in body


async def test_the_register_forms_pattern_says_what_is_allowed(client: Client) -> None:
    tag = field(await text(await client.get("/register")), "username")
    assert 'title="Up to 64 letters, digits, dots, dashes or underscores."' in tag


async def test_a_logged_in_user_opening_register_goes_to_the_profile(
    app: Quart, client: Client, user: User,
) -> None:
    await log_in(app, client, user)
    response = await client.get("/register")
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"
