"""Hostile session cookies on every backend: nobody else's session, refused ones deleted.

Alice and Bob are logged in once per test; every example sends its own
request with its own ``Cookie`` header, made from Alice's cookie (changed,
repeated, surrounded by junk) or from nothing at all, and judges the answer
by what that header carries, read with werkzeug's cookie parser as the app
reads it. No example can end either login: without a CSRF token no POST
gets past the token check, and the identity property re-checks Alice's own
cookie in every example.
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from itsdangerous import BadData, URLSafeTimedSerializer
from quart import Quart
from werkzeug.sansio.http import parse_cookie

from quart_app.sessions.cookie import SignedCookieSessionInterface
from quart_app.sessions.memory import MemoryStore
from quart_app.sessions.policy import USER_ID
from quart_app.sessions.server_side import ServerSideSessionInterface
from quart_app.users import User, UserStore

from ..conftest import COOKIE, PASSWORD, cookie_attributes, csrf_from, log_in, set_cookie_headers
from ..sessions.test_server_side import stored_keys
from .strategies import (
    BASE64URL,
    FORM_ROUTES,
    ROOMY_THROTTLE,
    Answer,
    Request,
    altered,
    assert_answered,
    cookie_headers,
    cookie_text,
    form_requests,
    requests,
    send,
    shown_user,
    signed_cookies,
    with_cookie,
)

BACKENDS = ["cookie", "memory", "redis"]


@dataclass
class Logins:
    """Alice and Bob, each logged in once, and how to tell whether a cookie is Alice's."""

    alice: User
    alice_cookie: str
    bob: User
    is_alices: Callable[[str], bool]


def serializer_of(app: Quart) -> URLSafeTimedSerializer:
    """The app's own cookie serializer (cookie backend): it signs with the app's key."""
    interface = app.session_interface
    assert isinstance(interface, SignedCookieSessionInterface)
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    return serializer


def signed_by_app(app: Quart, value: str) -> bool:
    """Whether ``value`` is a cookie the app's key signed (never, on a server-side backend)."""
    if app.config["SESSION_BACKEND"] != "cookie":
        return False
    try:
        serializer_of(app).loads(value)
    except BadData:
        return False
    return True


@pytest.fixture
async def logins(app: Quart, store: UserStore) -> Logins:
    """Alice and Bob logged in; ``is_alices`` recognises Alice's session however it is spelt.

    A signed cookie verifies in more than one spelling (base64 decoding skips
    stray characters in the signature) and each spelling of Alice's signed
    session is Alice's session; a server-side id must match exactly.
    """
    alice = await store.create("alice", PASSWORD)
    bob = await store.create("bob", PASSWORD)
    alice_cookie = await log_in(app, app.test_client(), alice)
    await log_in(app, app.test_client(), bob)
    if app.config["SESSION_BACKEND"] != "cookie":
        return Logins(alice, alice_cookie, bob, lambda value: value == alice_cookie)
    serializer = serializer_of(app)
    alices = serializer.loads(alice_cookie)

    def is_alices(value: str) -> bool:
        try:
            return bool(serializer.loads(value) == alices)
        except BadData:
            return False

    return Logins(alice, alice_cookie, bob, is_alices)


def session_cookie(cookie_header: str) -> str | None:
    """The session cookie the app reads from this header (the first of that name), if any.

    The test client sends the header as UTF-8 and the app reads it as Latin-1, like every
    header (ASGI), so that is how it is parsed here too.
    """
    return parse_cookie(cookie_header.encode().decode("latin-1")).get(COOKIE)


async def profile_user(app: Quart, cookie_header: str) -> str | None:
    """Whom ``GET /profile`` with this ``Cookie`` header is for; None when sent to log in."""
    request = with_cookie(Request("GET", "/profile"), cookie_header)
    answer = await send(app.test_client(), request)
    assert answer.status_code in {200, 302}, f"{answer.status_code} for {request!r}"
    return shown_user(answer.body) if answer.status_code == 200 else None


async def send_with_cookies(app: Quart, data: st.DataObject, values: st.SearchStrategy[str]
                            ) -> tuple[str, Request, Answer]:
    """Send any request with a ``Cookie`` header of session cookies drawn from ``values``.

    Returns the header, the request and its answer, which has already passed
    ``assert_answered``.
    """
    header = data.draw(cookie_headers(values), label="Cookie")
    request = with_cookie(data.draw(requests(), label="request"), header)
    answer = await send(app.test_client(), request)
    assert_answered(answer, request)
    return header, request, answer


def assert_deletes_the_cookie(answer: Answer, request: Request) -> None:
    """The answer deletes the session cookie, in a way a browser obeys for a ``__Host-`` one."""
    headers = set_cookie_headers(answer)
    assert len(headers) == 1, f"{headers} for {request!r}"
    attributes = cookie_attributes(headers[0])
    assert attributes["value"] == ""
    assert attributes["max-age"] == "0"
    assert "secure" in attributes
    assert attributes["path"] == "/"


@pytest.mark.parametrize("config", BACKENDS, indirect=True)
@settings(max_examples=80)
@given(data=st.data())
async def test_only_alices_own_session_cookie_is_ever_alice_and_none_is_bob(
    app: Quart, logins: Logins, data: st.DataObject
) -> None:
    values = st.one_of(st.just(logins.alice_cookie), altered(logins.alice_cookie))
    header, request, answer = await send_with_cookies(app, data, values)
    carried = session_cookie(header)
    alices = carried is not None and logins.is_alices(carried)
    event("Alice's session" if alices else "not Alice's session")
    assert shown_user(answer.body) in ({None, "alice"} if alices else {None}), request
    assert await profile_user(app, header) == ("alice" if alices else None), request
    assert await profile_user(app, f"{COOKIE}={logins.alice_cookie}") == "alice"


@settings(max_examples=120)
@given(data=st.data())
async def test_a_validly_signed_session_cookie_is_only_ever_the_user_it_names(
    app: Quart, logins: Logins, data: st.DataObject
) -> None:
    serializer = serializer_of(app)
    cookie = data.draw(signed_cookies(serializer, [logins.alice, logins.bob]), label="cookie")
    try:
        payload = serializer.loads(cookie)
    except BadData:
        payload = None
    named_id = payload.get(USER_ID) if isinstance(payload, dict) else None
    named = None
    if type(named_id) is int:  # not a bool: True == 1, yet it is no user id
        named = {logins.alice.id: "alice", logins.bob.id: "bob"}.get(named_id)
    page = data.draw(st.sampled_from(["/profile", "/sessions", "/account/password", "/logout"]))
    request = Request("GET", page, [("Cookie", f"{COOKIE}={cookie}")])
    answer = await send(app.test_client(), request)
    assert_answered(answer, request)
    shown = shown_user(answer.body)
    event(f"shown as {shown}" if shown else "anonymous")
    assert shown in {None, named}, request


@pytest.mark.parametrize("config", BACKENDS, indirect=True)
@settings(max_examples=80)
@given(data=st.data())
async def test_a_refused_session_cookie_is_deleted_in_the_same_answer(
    app: Quart, logins: Logins, data: st.DataObject
) -> None:
    bad = [altered(logins.alice_cookie), cookie_text, st.text(BASE64URL, min_size=43,
                                                                 max_size=43)]
    if app.config["SESSION_BACKEND"] == "cookie":
        bad.append(signed_cookies(serializer_of(app), [logins.alice, logins.bob]))
    header, request, answer = await send_with_cookies(app, data, st.one_of(bad))
    carried = session_cookie(header)
    refused = carried is not None and await profile_user(app, header) is None
    # A static file skips the user load, so a validly signed session is not judged there
    # (the next page deletes it); any other refused cookie is deleted even with a stylesheet.
    judged = not (unquote(request.path).startswith(f"{app.static_url_path}/")
                  and carried is not None and signed_by_app(app, carried))
    event("refused" if refused else "no session cookie, or a session")
    if refused and judged:
        assert_deletes_the_cookie(answer, request)


@pytest.mark.config(REGISTRATION_ENABLED=False, LOGIN_THROTTLE=ROOMY_THROTTLE)
@pytest.mark.parametrize("config", ["memory", "redis"], indirect=True)
@settings(max_examples=80)
@given(data=st.data())
async def test_anonymous_traffic_stores_no_session_record(app: Quart, data: st.DataObject) -> None:
    # No account exists and none can be made, so no request here can log in.
    client = app.test_client()
    token = None
    if data.draw(st.booleans(), label="fetches a form first"):
        token = csrf_from(await (await client.get("/login")).get_data(as_text=True))
    path = data.draw(st.sampled_from(FORM_ROUTES), label="form")
    request = data.draw(requests() | form_requests(path, token), label="request")
    if data.draw(st.booleans(), label="sends a session cookie"):
        ids = cookie_text | st.text(BASE64URL, min_size=43, max_size=43)
        request = with_cookie(request, data.draw(cookie_headers(ids), label="Cookie"))
    before = await session_records(app)
    answer = await send(client, request)
    assert_answered(answer, request)
    for header in set_cookie_headers(answer):
        assert cookie_attributes(header)["max-age"] == "0", header
    # Compared with this example's start (empty, unless an earlier example failed), so a
    # failure is this request's own and shrinks to it.
    assert await session_records(app) == before, request


async def session_records(app: Quart) -> list[str] | int:
    """The stored sessions: the keys under the Redis prefix but the throttle's counters
    (which the README allows), or how many records the memory store holds."""
    interface = app.session_interface
    assert isinstance(interface, ServerSideSessionInterface)
    if isinstance(interface.store, MemoryStore):
        return len(interface.store)
    counters = app.config["SESSION_KEY_PREFIX"] + "throttle:"
    return sorted(key for key in await stored_keys(app) if not key.startswith(counters))
