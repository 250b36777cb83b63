"""Every form, posted with random fields, with and without a valid CSRF token: never a 5xx."""

import itertools
from urllib.parse import quote

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from quart import Quart

from quart_app.sessions.server_side import handle_of
from quart_app.users import UserStore

from ..conftest import PASSWORD, csrf_from, log_in
from .strategies import (
    FORM_ROUTES,
    ROOMY_THROTTLE,
    Request,
    assert_answered,
    form_requests,
    right_fields,
    send,
    text,
)

# Every session backend on SQLite, and what scaling out deploys: Redis and PostgreSQL.
DEPLOYMENTS = [("cookie", "sqlite"), ("memory", "sqlite"), ("redis", "sqlite"),
               ("redis", "postgresql")]
ACCOUNT_NUMBERS = itertools.count()
REVOKE = "/sessions/<handle>/revoke"


@pytest.mark.config(LOGIN_THROTTLE=ROOMY_THROTTLE)
@pytest.mark.parametrize(("config", "database"), DEPLOYMENTS, indirect=True)
@settings(max_examples=100)
@given(data=st.data())
async def test_no_form_submission_gets_a_server_error(
    app: Quart, store: UserStore, data: st.DataObject
) -> None:
    # Each example logs in an account of its own, so what one example changes (a password,
    # a deleted account, ended sessions) is never what another one starts from.
    client = app.test_client()
    route = data.draw(st.sampled_from([*FORM_ROUTES, REVOKE]), label="route")
    # Mostly as the form is meant to be used (the login forms anonymous, the others logged in).
    anonymous_form = route in {"/login", "/register"}
    logged_in = data.draw(st.sampled_from([not anonymous_form] * 4 + [anonymous_form]),
                          label="logged in")
    handles = [data.draw(text, label="made-up handle")]
    name = f"fuzz{next(ACCOUNT_NUMBERS)}"
    user = await store.create(name, PASSWORD)
    if logged_in:
        handles.append(handle_of(await log_in(app, client, user)))
        handles.append(handle_of(await log_in(app, app.test_client(), user)))
    path = route
    if route == REVOKE:  # another session of the user's, this one, or a made-up handle
        handle = data.draw(st.sampled_from(handles[::-1]), label="handle")
        path = route.replace("<handle>", quote(handle, safe=""))
    token = None
    csrf = data.draw(st.sampled_from(["valid", "valid", "valid", "wrong", "none"]), label="csrf")
    match csrf:
        case "valid":
            page = await client.get("/profile" if logged_in else "/login")
            token = csrf_from(await page.get_data(as_text=True))
        case "wrong":
            await client.get("/login")
            token = data.draw(text, label="wrong token")
    request = data.draw(form_requests(path, token, right_fields(route, name)), label="request")
    answer = await send(client, request)
    event(f"{'logged in' if logged_in else 'anonymous'}, token {csrf}: "
          f"{route} {answer.status_code}")
    assert_answered(answer, request)
    for after in [Request("GET", "/profile"), Request("GET", "/sessions")]:
        assert_answered(await send(client, after), after)
