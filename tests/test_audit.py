"""The audit log: one structured record per security event, naming sessions only by a keyed hash."""

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from quart import Quart

from quart_app.audit import JsonFormatter, as_text
from quart_app.users import User, UserStore

from .conftest import PASSWORD, SECRET_KEY, AuthActions, jar_cookie, log_in
from .live_server import create_user, live_server
from .test_server import Visitor

NEW_PASSWORD = "a brand new passphrase"
# The config marker picks the backend; the parameter only names the case.
BACKENDS = [pytest.param("cookie"),
            pytest.param("server-side", marks=pytest.mark.config(SESSION_BACKEND="memory"))]

type Action = Callable[[Quart, AuthActions, User], Awaitable[Any]]


def audit_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The fields of every audit record captured so far."""
    return [record.audit for record in caplog.records  # type: ignore[attr-defined]
            if record.name == "quart_app.audit"]


def documented_reference(session_secret: str) -> str:
    """The README's formula: HMAC-SHA256 keyed by HMAC-SHA256(SECRET_KEY, context), 16 hex."""
    key = hmac.new(SECRET_KEY.encode(), b"quart_app audit log: session reference",
                   hashlib.sha256).digest()
    return hmac.new(key, session_secret.encode(), hashlib.sha256).hexdigest()[:16]


async def login(app: Quart, auth: AuthActions, user: User) -> Any:
    return await auth.login()


async def wrong_password(app: Quart, auth: AuthActions, user: User) -> Any:
    return await auth.login(password="not the password at all")


async def register(app: Quart, auth: AuthActions, user: User) -> Any:
    return await auth.register("bob")


async def logout(app: Quart, auth: AuthActions, user: User) -> Any:
    return await auth.logout()


async def change_password(app: Quart, auth: AuthActions, user: User) -> Any:
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
            "csrf_token": await auth.token("/account/password")}
    return await auth.client.post("/account/password", form=form)


async def wrong_current_password(app: Quart, auth: AuthActions, user: User) -> Any:
    form = {"current": "not the password at all", "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD, "csrf_token": await auth.token("/account/password")}
    return await auth.client.post("/account/password", form=form)


async def delete_account(app: Quart, auth: AuthActions, user: User) -> Any:
    form = {"password": PASSWORD, "csrf_token": await auth.token("/account/password")}
    return await auth.client.post("/account/delete", form=form)


async def revoke_others(app: Quart, auth: AuthActions, user: User) -> Any:
    form = {"password": PASSWORD, "csrf_token": await auth.token("/sessions")}
    return await auth.client.post("/sessions/revoke-others", form=form)


# (what the person does, logged in first?, the event, its status, whose id, its other fields)
EVENTS = [
    pytest.param(login, False, "login.succeeded", 303, "alice", {"remember": False},
                 id="login"),
    pytest.param(wrong_password, False, "login.failed", 401, None, {"account": "alice"},
                 id="failed-login"),
    pytest.param(logout, True, "logout", 303, "alice", {}, id="logout"),
    pytest.param(change_password, True, "password.changed", 303, "alice", {},
                 id="password-change"),
    pytest.param(wrong_current_password, True, "password.confirmation_failed", 403, "alice",
                 {"action": "password change"}, id="wrong-current-password"),
    pytest.param(delete_account, True, "account.deleted", 303, "alice", {},
                 id="account-deletion"),
    pytest.param(revoke_others, True, "sessions.others_ended", 303, "alice",
                 {"session_version": 2}, id="log-out-everywhere-else"),
]


@pytest.mark.parametrize(
    ("action", "logged_in_first", "event", "status", "whose", "fields"), EVENTS)
async def test_each_security_event_writes_exactly_one_audit_record(
    app: Quart, auth: AuthActions, user: User, store: UserStore,
    caplog: pytest.LogCaptureFixture, action: Action, logged_in_first: bool, event: str,
    status: int, whose: str | None, fields: dict[str, Any],
) -> None:
    if logged_in_first:
        await log_in(app, auth.client, user)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="quart_app"):
        response = await action(app, auth, user)
    assert response.status_code == status
    [record] = audit_records(caplog)
    assert record["event"] == event
    assert record["remote"] == "<local>"  # the test client's address
    ids = {"alice": user.id, "bob": getattr(await store.find("bob"), "id", None), None: None}
    assert record.get("user_id") == ids[whose]
    assert fields.items() <= record.items()


async def test_a_registration_is_recorded_then_the_login_it_starts(
    auth: AuthActions, store: UserStore, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="quart_app"):
        response = await auth.register("bob")
    assert response.status_code == 303
    bob = await store.find("bob")
    assert bob is not None
    records = audit_records(caplog)
    assert [(r["event"], r["user_id"]) for r in records] == [
        ("account.registered", bob.id), ("login.succeeded", bob.id)]
    assert records[1]["remember"] is False


@pytest.mark.config(LOGIN_THROTTLE={"account": [1, 900], "address": [100, 900]})
async def test_a_throttle_trip_is_an_audit_record_with_its_limit_and_wait(
    auth: AuthActions, user: User, caplog: pytest.LogCaptureFixture,
) -> None:
    await auth.login(password="not the password at all")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="quart_app"):
        response = await auth.login()
    assert response.status_code == 429
    [record] = audit_records(caplog)
    assert record["event"] == "login.throttled"
    assert record["limits"] == "account"
    assert record["path"] == "/login"
    assert record["retry_after"] == int(response.headers["Retry-After"])


async def test_an_expired_cookie_session_is_an_audit_record_naming_why(
    app: Quart, auth: AuthActions, user: User,
    caplog: pytest.LogCaptureFixture, time_machine: time_machine.TimeMachineFixture,
) -> None:
    time_machine.move_to(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=False)
    await log_in(app, auth.client, user)
    time_machine.shift(timedelta(minutes=31))
    with caplog.at_level(logging.INFO, logger="quart_app"):
        assert (await auth.client.get("/profile")).status_code == 302
    [record] = audit_records(caplog)
    assert record["event"] == "session.refused"
    assert record["reason"] == "idle"
    assert len(record["session"]) == 16


@pytest.mark.config(SESSION_BACKEND="memory")
async def test_a_stored_session_is_named_by_the_keyed_hash_of_its_id(
    app: Quart, auth: AuthActions, user: User, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="quart_app"):
        await auth.login()
    session_id = jar_cookie(auth.client)  # a server-side session's cookie is its id
    assert session_id is not None
    [record] = audit_records(caplog)
    assert record["session"] == documented_reference(session_id)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_one_sessions_records_share_a_reference_and_two_sessions_differ(
    backend: str, app: Quart, auth: AuthActions, user: User,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="quart_app"):
        await auth.login()
        await auth.logout()
        await auth.login()
    first_login, first_logout, second_login = audit_records(caplog)
    assert first_logout["event"] == "logout"
    assert first_login["session"] == first_logout["session"]
    assert second_login["session"] != first_login["session"]


@pytest.mark.config(SESSION_BACKEND="memory")
async def test_a_revoked_session_is_named_with_the_session_that_revoked_it(
    app: Quart, user: User, caplog: pytest.LogCaptureFixture,
) -> None:
    phone, laptop = AuthActions(app.test_client()), AuthActions(app.test_client())
    phone_id = await log_in(app, phone.client, user)
    laptop_id = await log_in(app, laptop.client, user)
    page = await (await laptop.client.get("/sessions")).get_data(as_text=True)
    handle = hashlib.sha256(phone_id.encode()).hexdigest()[:32]
    assert f"/sessions/{handle}/revoke" in page
    with caplog.at_level(logging.INFO, logger="quart_app"):
        form = {"csrf_token": await laptop.token("/sessions")}
        response = await laptop.client.post(f"/sessions/{handle}/revoke", form=form)
    assert response.status_code == 303
    [record] = audit_records(caplog)
    assert record["event"] == "session.revoked"
    assert record["session"] == documented_reference(phone_id)
    assert record["by"] == documented_reference(laptop_id)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_no_record_carries_a_password_a_cookie_or_a_session_id(
    backend: str, app: Quart, auth: AuthActions, user: User,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cookies = []
    with caplog.at_level(logging.DEBUG, logger="quart_app"):
        await auth.login(password="a wrong password typed")
        await auth.login()
        cookies.append(jar_cookie(auth.client))
        await auth.client.get("/profile")
        await change_password(app, auth, user)
        cookies.append(jar_cookie(auth.client))
        await auth.logout()
    secrets = [PASSWORD, NEW_PASSWORD, "a wrong password typed",
               *(c for c in cookies if c is not None)]
    assert len(secrets) == 5
    formatter = JsonFormatter()
    rendered = [line for record in caplog.records
                for line in (record.getMessage(), formatter.format(record), repr(vars(record)))]
    for secret in secrets:
        for fragment in {secret, secret[:24], secret[-24:]}:
            assert not any(fragment in line for line in rendered), fragment


async def test_the_json_form_is_one_object_per_line_with_time_level_and_fields(
    auth: AuthActions, user: User, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="quart_app"):
        await auth.login(password="not the password at all")
    [record] = [r for r in caplog.records if r.name == "quart_app.audit"]
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed == {"time": parsed["time"], "level": "warning", "pid": record.process,
                      "event": "login.failed", "remote": "<local>", "account": "alice"}
    assert datetime.fromisoformat(parsed["time"]).tzinfo == UTC


@pytest.mark.parametrize("hostile", ["/login\nevent=login.succeeded user_id=1", "a b",
                                     'say "hi"', "k=v", "back\\slash", "tab\there", ""])
def test_a_text_value_that_could_forge_a_field_is_quoted(hostile: str) -> None:
    line = as_text({"event": "login.throttled", "path": hostile})
    assert line == f"event=login.throttled path={json.dumps(hostile)}"
    assert "\n" not in line


def test_plain_text_values_are_written_as_they_are() -> None:
    line = as_text({"event": "login.succeeded", "user_id": 7, "remember": True,
                    "remote": "::1"})
    assert line == "event=login.succeeded user_id=7 remember=true remote=::1"


@pytest.mark.server
async def test_a_served_app_with_json_audit_writes_each_event_as_a_json_line(
    tmp_path: Path,
) -> None:
    async with live_server(tmp_path, {"QUART_AUDIT_LOG_FORMAT": "json"}) as server:
        await create_user(server, "alice", PASSWORD)
        visitor = Visitor(server)
        assert (await visitor.submit("/login", {"username": "alice", "password": PASSWORD})
                ).status_code == 303
        assert (await visitor.submit("/logout", {}, page="/profile")).status_code == 303
        await visitor.request("GET", "/logout")  # shows, and so removes, the flashed message

        def audit_lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in server.output if line.startswith("{")]

        await server.wait_for_output(lambda: len(audit_lines()) >= 2)
    login_line, logout_line = audit_lines()
    assert login_line["event"] == "login.succeeded"
    assert logout_line["event"] == "logout"
    assert login_line["remote"] == "127.0.0.1"
    assert login_line["session"] == logout_line["session"]
    assert visitor.cookie is None
