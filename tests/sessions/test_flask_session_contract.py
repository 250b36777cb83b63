"""The peers' session tests, ported to ``flask.session`` over HTTP and run on every backend.

Like Django's ``SessionTestsMixin``: one suite, and each case runs on the
``cookie``, ``memory`` and ``redis`` backends. A blueprint of small GET views
(no CSRF token needed) does what a view of any Flask app may do with the
session; the tests drive it through the test client and look only at what a
browser or an operator could see: the answers, the ``Set-Cookie`` and
``Vary`` headers, and for the server-side stores how many records they keep.
Each case names its source in its docstring.

Sources: Flask ``tests/test_basic.py``, Quart ``tests/test_sessions.py``,
Flask-Session ``tests/conftest.py``/``tests/abs_test.py`` and Django
``tests/sessions_tests/tests.py`` (``SessionTestsMixin`` and
``SessionMiddlewareTests``). Not ported, because they cannot apply here:

- Flask ``test_session_using_server_name*``, ``…_application_root``,
  ``…_session_settings``, ``…_samesite_attribute``, ``test_session_localhost_warning``:
  the ``__Host-`` cookie forbids a ``Domain`` and any path but ``/``, and the
  configuration refuses such settings at start-up (``tests/test_config.py``).
- Flask ``test_missing_session``: there is always a secret key.
- Flask ``test_session_vary_cookie``'s ``/no-vary-header`` case: every request
  reads the session to find its user, so every answer varies on the cookie.
- Django ``test_session_key_is_read_only``, ``test_decode*``, ``set_expiry`` and
  ``test_cycle_with_no_session_cache``: no such API on a Flask session; the
  expiry cases map onto ``session.permanent`` and the three lifetimes, and over
  HTTP every login request loads its session afresh, which is ``test_cycle``.
- Flask-Session ``regenerate``: the login does it (``test_login_*``).

What only a backend that stores nothing cannot do (revoke a copy of a cookie)
is parametrized over ``memory`` and ``redis`` only, never skipped.
"""

import logging
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import pytest
from flask.json.tag import TaggedJSONSerializer
from markupsafe import Markup
from quart import (
    Blueprint,
    Quart,
    Response,
    after_this_request,
    flash,
    get_flashed_messages,
    redirect,
    request,
    session,
)
from quart.typing import ResponseTypes
from quart.typing import TestClientProtocol as Client
from redis.asyncio import Redis
from time_machine import TimeMachineFixture
from werkzeug.http import http_date

from quart_app import create_app
from quart_app.sessions.memory import MemoryStore
from quart_app.users import User, UserStore

from ..conftest import (
    PASSWORD,
    AuthActions,
    cookie_attributes,
    jar_cookie,
    replay,
    set_cookie_headers,
)
from .test_backends import on_backend

BACKENDS: Final = ["cookie", "memory", "redis"]
SERVER_SIDE: Final = ["memory", "redis"]
SERIALIZER: Final = TaggedJSONSerializer()

LIFETIME: Final = timedelta(days=7)  # PERMANENT_SESSION_LIFETIME's default
IDLE: Final = timedelta(minutes=30)  # SESSION_IDLE_TIMEOUT's default
ABSOLUTE: Final = timedelta(days=30)  # SESSION_ABSOLUTE_TIMEOUT's default
MINUTE: Final = timedelta(minutes=1)  # activity is recorded at most once a minute
MAX_COOKIE_BYTES: Final = 4093  # what Werkzeug and browsers accept in one Set-Cookie
UNKNOWN_ID: Final = "A" * 43  # the shape of a server-side id, but never issued

FLASHED: Final = [
    ("message", "Hello World"),
    ("error", "Hello World"),
    ("warning", Markup("<em>Testing</em>")),
]

# Flask's tagged JSON, as Flask's test_session_special_types and the spec list it.
ROUND_TRIP: Final[dict[str, Any]] = {
    "str": "dark ☾",
    "int": 42,
    "float": 1.5,
    "bool": True,
    "none": None,
    "list": [1, "two", [3]],
    "dict": {"a": 1, "b": [2]},
    "tuple": (1, 2, 3),
    "bytes": b"\xff\x00",
    "datetime": datetime(2026, 12, 6, 9, 30, 15, tzinfo=UTC),
    "uuid": UUID("0f8fad5b-d9cb-469f-a165-70867728950e"),
    "markup": Markup("<html>"),
    "t_tag": {" t": "not-a-tuple"},
    "di_t_tag": {" t__": "not-a-tuple"},
    "di_tag": {" di": "not-a-dict"},
}


# --- the peers' views, as a blueprint -----------------------------------------------------------


def tagged(value: Any) -> Response:
    """An answer in Flask's tagged JSON, so the test reads back exact types."""
    return Response(SERIALIZER.dumps(value), mimetype="application/json")


def own_items() -> list[tuple[str, Any]]:
    """The keys the views wrote; ``_``-keys are the framework's and the login's (Flask's rule)."""
    return [(key, value) for key, value in session.items() if not key.startswith("_")]


def contract_views() -> Blueprint:
    """What a view of any Flask app may do with the session, one verb per route (all GET)."""
    views = Blueprint("contract", __name__, url_prefix="/s")

    @views.get("/put/<key>")
    async def put(key: str) -> str:
        session[key] = SERIALIZER.loads(request.args["v"])
        return "ok"

    @views.get("/get/<key>")
    async def get(key: str) -> Response:
        return tagged({"present": key in session, "value": session.get(key)})

    @views.get("/del/<key>")
    async def delete(key: str) -> str:
        del session[key]
        return "ok"

    @views.get("/pop/<key>")
    async def pop(key: str) -> Response:
        if "default" in request.args:
            return tagged(session.pop(key, request.args["default"]))
        return tagged(session.pop(key))

    @views.get("/setdefault/<key>/<value>")
    async def setdefault(key: str, value: str) -> Response:
        return tagged(session.setdefault(key, value))

    @views.get("/update")
    async def update() -> str:
        session.update({"update key": 1, "other key": "two"})
        return "ok"

    @views.get("/has/<key>")
    async def has(key: str) -> Response:
        return tagged(key in session)

    @views.get("/view/<kind>")
    async def view(kind: str) -> Response:
        items = own_items()
        return tagged({"keys": [k for k, _ in items], "values": [v for _, v in items],
                       "items": items}[kind])

    @views.get("/clear")
    async def clear() -> str:
        session.clear()
        return "ok"

    @views.get("/permanent/<flag>")
    async def permanent(flag: str) -> str:
        session.permanent = flag == "on"
        return "ok"

    @views.get("/is-permanent")
    async def is_permanent() -> str:
        return str(session.permanent)

    @views.get("/bump/<flag>")
    async def bump(flag: str) -> str:
        value = session["foo"] = session.get("foo", 0) + 1
        session.permanent = flag == "on"
        return str(value)

    @views.get("/append/<key>/<int:item>")
    async def append(key: str, item: int) -> str:
        session[key].append(item)
        if request.args.get("modified") == "1":
            session.modified = True
        return "ok"

    @views.get("/flash")
    async def flash_three() -> Any:
        for category, message in FLASHED:
            await flash(message, category)
        return redirect("/s/messages", 303)

    @views.get("/flash-zap-zip")
    async def flash_zap_zip() -> str:
        await flash("Zap")
        session.modified = False
        await flash("Zip")
        return "ok"

    @views.get("/messages")
    async def messages() -> Response:
        return tagged(list(get_flashed_messages(
            with_categories=request.args.get("with_categories") == "1",
            category_filter=request.args.getlist("filter"),
        )))

    @views.get("/stored-last")
    async def stored_last() -> str:
        @after_this_request
        async def modify_session(response: ResponseTypes) -> ResponseTypes:
            session["foo"] = 42
            return response

        return repr(session.get("foo"))

    @views.get("/blob/<int:size>")
    async def blob(size: int) -> str:
        session["blob"] = secrets.token_hex(size)  # random: compression cannot shrink it
        return "ok"

    @views.get("/reserved")
    async def reserved() -> str:
        session["uid"] = "x"
        session["name"] = "y"
        session["ver"] = 9
        session["csrf"] = "z"
        return "ok"

    @views.get("/vary-header-set")
    async def vary_header_set() -> Response:
        response = Response("")
        response.vary.update(("Accept-Encoding", "Accept-Language"))
        session["test"] = "test"
        return response

    @views.get("/noop")
    async def noop() -> str:
        return "ok"

    return views


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test; a backend-specific case parametrizes this (indirect)."""
    name: str = request.param
    return name


@pytest.fixture
async def config(backend: str, config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The usual test config on the backend; Redis under a prefix of its own."""
    async with on_backend(backend, config) as configured:
        yield configured


@pytest.fixture
async def app(config: dict[str, Any]) -> AsyncIterator[Quart]:
    """The app with the peers' views registered before it starts."""
    built = create_app(config)
    built.register_blueprint(contract_views())
    async with built.test_app():
        yield built


@pytest.fixture(autouse=True)
def start(time_machine: TimeMachineFixture) -> datetime:
    """A stopped clock at the real present (Redis expires keys by its own clock).

    No minute passes unless a test moves the clock, so activity (recorded at
    most once a minute) never re-sends a cookie behind a test's back.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    time_machine.move_to(now, tick=False)
    return now


@pytest.fixture(params=["anonymous", "logged-in"])
async def visitor(request: pytest.FixtureRequest, auth: AuthActions, user: User) -> Client:
    """A browser, anonymous or logged in as alice through the login form."""
    if request.param == "logged-in":
        assert (await auth.login()).status_code == 303
    return auth.client


# --- helpers -------------------------------------------------------------------------------------


async def put(client: Client, key: str, value: Any) -> Any:
    """``session[key] = value`` in a view; the value travels as tagged JSON."""
    response = await client.get(f"/s/put/{key}", query_string={"v": SERIALIZER.dumps(value)})
    assert response.status_code == 200
    return response


async def lookup(client: Client, key: str) -> tuple[bool, Any]:
    """``(key in session, session.get(key))`` as a view sees them."""
    response = await client.get(f"/s/get/{key}")
    assert response.status_code == 200
    body = SERIALIZER.loads(await response.get_data(as_text=True))
    return body["present"], body["value"]


async def read(client: Client, key: str) -> Any:
    """``session.get(key)`` in a view."""
    return (await lookup(client, key))[1]


async def answer(client: Client, path: str, **query: Any) -> Any:
    """A view's tagged-JSON answer."""
    response = await client.get(path, query_string=query or None)
    assert response.status_code == 200
    return SERIALIZER.loads(await response.get_data(as_text=True))


def session_cookie(response: Any) -> dict[str, str]:
    """The attributes of the one ``Set-Cookie`` the response sends for the session."""
    [header] = set_cookie_headers(response)
    return cookie_attributes(header)


def deletes_cookie(response: Any, now: datetime) -> bool:
    """Whether the response deletes the session cookie (empty, expired or Max-Age=0)."""
    headers = set_cookie_headers(response)
    if len(headers) != 1:
        return False
    attributes = cookie_attributes(headers[0])
    expired = "expires" in attributes and _http_datetime(attributes["expires"]) < now
    return attributes["value"] in ("", '""') and (expired or attributes.get("max-age") == "0")


def _http_datetime(value: str) -> datetime:
    return datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)


def vary(response: Any) -> list[str]:
    """The response's ``Vary`` values, in order."""
    return [v.strip() for h in response.headers.getlist("Vary") for v in h.split(",")]


async def stored_records(app: Quart) -> int:
    """How many session records the server-side store keeps.

    Memory: the store's ``len()``. Redis: the string keys under the test's
    prefix, leaving out the throttle's counters and the per-user indexes
    (sorted sets), which are not records.
    """
    if app.config["SESSION_BACKEND"] == "memory":
        store = getattr(app.session_interface, "store", None)
        assert isinstance(store, MemoryStore)
        return len(store)
    prefix = app.config["SESSION_KEY_PREFIX"]
    redis = Redis.from_url(app.config["REDIS_URL"], decode_responses=True)
    try:
        count = 0
        async for key in redis.scan_iter(match=f"{prefix}*"):
            if not key.startswith(f"{prefix}throttle:") and await redis.type(key) == "string":
                count += 1
        return count
    finally:
        await redis.aclose()


async def record_exists(app: Quart, cookie: str | None) -> bool:
    """Whether the server-side store still holds the record this cookie names (its id)."""
    store = getattr(app.session_interface, "store", None)
    assert store is not None
    assert cookie is not None
    return await store.load(cookie) is not None


async def log_in_again(auth: AuthActions, username: str = "alice") -> Any:
    """Submit the login form while already logged in (the token comes from the profile)."""
    form = {"username": username, "password": PASSWORD,
            "csrf_token": await auth.token("/profile")}
    return await auth.client.post("/login", form=form)


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every warning or error logged, with its traceback."""
    formatter = logging.Formatter()
    parts = []
    for record in caplog.records:
        if record.levelno >= logging.WARNING:
            parts.append(record.getMessage())
            if record.exc_info:
                parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


# --- reading and writing keys --------------------------------------------------------------------


async def test_a_value_set_in_one_request_is_read_in_the_next(visitor: Client) -> None:
    """Flask tests/test_basic.py::test_session (set, then get)."""
    await put(visitor, "value", "42")
    assert await read(visitor, "value") == "42"


async def test_a_value_can_be_replaced(visitor: Client) -> None:
    """Flask-Session tests/conftest.py::test_session (/modify)."""
    await put(visitor, "value", "42")
    await put(visitor, "value", "43")
    assert await read(visitor, "value") == "43"


async def test_a_deleted_key_is_gone(visitor: Client) -> None:
    """Flask-Session tests/conftest.py::test_session (/delete: del session["value"])."""
    await put(visitor, "value", "42")
    await put(visitor, "other", "kept")
    assert (await visitor.get("/s/del/value")).status_code == 200
    assert await lookup(visitor, "value") == (False, None)


async def test_pop_returns_the_value_and_removes_the_key(visitor: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_pop."""
    await put(visitor, "some key", "exists")
    await put(visitor, "other", "kept")
    assert await answer(visitor, "/s/pop/some key") == "exists"
    assert await lookup(visitor, "some key") == (False, None)


async def test_pop_with_a_default_on_a_new_session_sends_no_cookie(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_pop_default."""
    response = await client.get("/s/pop/some key", query_string={"default": "does not exist"})
    assert SERIALIZER.loads(await response.get_data(as_text=True)) == "does not exist"
    assert set_cookie_headers(response) == []


async def test_setdefault_keeps_the_first_value(visitor: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_setdefault."""
    assert await answer(visitor, "/s/setdefault/foo/bar") == "bar"
    assert await answer(visitor, "/s/setdefault/foo/baz") == "bar"


async def test_update_stores_every_key(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_update."""
    assert (await client.get("/s/update")).status_code == 200
    assert await read(client, "update key") == 1
    assert await read(client, "other key") == "two"


async def test_a_stored_key_is_in_the_session(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_has_key."""
    await put(client, "some key", 1)
    assert await answer(client, "/s/has/some key") is True
    assert await answer(client, "/s/has/other key") is False


@pytest.mark.parametrize(("kind", "expected"), [
    ("keys", ["x"]), ("values", [1]), ("items", [("x", 1)]),
])
async def test_keys_values_and_items_list_the_views_data(
    client: Client, kind: str, expected: list[Any]
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_keys/test_values/test_items."""
    await put(client, "x", 1)
    assert await answer(client, f"/s/view/{kind}") == expected


async def test_a_new_session_reads_as_empty(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_get_empty."""
    assert await lookup(client, "cat") == (False, None)


async def test_a_value_written_after_the_view_is_kept(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_stored_last (written in after_request)."""
    assert await (await client.get("/s/stored-last")).get_data(as_text=True) == "None"
    assert await (await client.get("/s/stored-last")).get_data(as_text=True) == "42"


@pytest.mark.parametrize("name", list(ROUND_TRIP))
async def test_values_round_trip_with_their_type(client: Client, name: str) -> None:
    """Flask tests/test_basic.py::test_session_special_types (and the plain JSON types)."""
    value = ROUND_TRIP[name]
    await put(client, "v", value)
    present, got = await lookup(client, "v")
    assert present
    assert type(got) is type(value)
    assert got == value


async def test_a_nested_change_without_modified_is_not_saved(client: Client) -> None:
    """Flask docs, "Sessions": mutable values need ``session.modified = True``."""
    await put(client, "l", [0])
    assert (await client.get("/s/append/l/1")).status_code == 200
    assert await read(client, "l") == [0]


async def test_a_nested_change_with_modified_is_saved(client: Client) -> None:
    """Flask docs, "Sessions": ``session.modified = True`` saves a mutated value."""
    await put(client, "l", [0])
    assert (await client.get("/s/append/l/1", query_string={"modified": "1"})).status_code == 200
    assert await read(client, "l") == [0, 1]


# --- what the response sends ---------------------------------------------------------------------


async def test_a_view_that_only_reads_sends_no_cookie(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_cookie_setting (/read, not permanent)."""
    await put(client, "foo", 3)
    response = await client.get("/s/get/foo")
    assert SERIALIZER.loads(await response.get_data(as_text=True))["value"] == 3
    assert set_cookie_headers(response) == []


async def test_a_view_that_ignores_the_session_sends_no_cookie(client: Client) -> None:
    """Quart tests/test_sessions.py::test_secure_cookie_session_interface_save_session_no_access."""
    assert set_cookie_headers(await put(client, "foo", 3)) != []
    assert set_cookie_headers(await client.get("/s/noop")) == []


async def test_reading_a_new_session_sends_no_cookie(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_new_session."""
    assert set_cookie_headers(await client.get("/s/get/cat")) == []


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_reading_stores_no_record(app: Quart, client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_new_session (server-side)."""
    await client.get("/s/get/cat")
    await client.get("/s/noop")
    assert await stored_records(app) == 0


async def test_the_session_cookie_has_the_secure_attributes(client: Client) -> None:
    """Quart tests/test_sessions.py::test_secure_cookie_session_interface_save_session."""
    attributes = session_cookie(await put(client, "something", "else"))
    assert attributes["value"] != ""
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes


@pytest.mark.config(SESSION_COOKIE_PARTITIONED=True)
async def test_a_partitioned_cookie_says_so(client: Client) -> None:
    """Flask/Quart SESSION_COOKIE_PARTITIONED (CHIPS), on every backend."""
    assert "partitioned" in session_cookie(await put(client, "something", "else"))


@pytest.mark.parametrize("path", [
    pytest.param("/s/put/test?v=%22test%22", id="set"),
    pytest.param("/s/get/test", id="get"),
    pytest.param("/s/setdefault/test/default", id="setdefault"),
    pytest.param("/s/clear", id="clear"),
    pytest.param("/s/pop/test?default=x", id="pop"),
])
async def test_using_the_session_varies_on_the_cookie(client: Client, path: str) -> None:
    """Flask tests/test_basic.py::test_session_vary_cookie."""
    response = await client.get(path)
    assert response.status_code == 200
    assert len(response.headers.getlist("Vary")) == 1
    assert vary(response) == ["Cookie"]


async def test_the_cookie_joins_a_views_own_vary(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_vary_cookie (/vary-header-set)."""
    response = await client.get("/s/vary-header-set")
    assert len(response.headers.getlist("Vary")) == 1
    assert vary(response) == ["Accept-Encoding", "Accept-Language", "Cookie"]


@pytest.mark.config(SESSION_REFRESH_EACH_REQUEST=True)
async def test_a_refreshed_permanent_session_varies_on_the_cookie(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_refresh_vary."""
    await put(client, "user_id", 1)
    await client.get("/s/permanent/on")
    assert "Cookie" in vary(await client.get("/s/noop"))


# --- clearing ------------------------------------------------------------------------------------


async def test_clear_deletes_the_cookie(client: Client, start: datetime) -> None:
    """Django tests/sessions_tests/tests.py::SessionMiddlewareTests::test_session_delete_on_end."""
    await put(client, "x", 1)
    assert deletes_cookie(await client.get("/s/clear"), start)


async def test_cleared_data_is_gone(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_clear."""
    await put(client, "x", 1)
    assert await read(client, "x") == 1
    await client.get("/s/clear")
    assert await lookup(client, "x") == (False, None)


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_clear_deletes_the_record(app: Quart, client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_delete / test_flush."""
    await put(client, "x", 1)
    assert await stored_records(app) == 1
    await client.get("/s/clear")
    assert await stored_records(app) == 0


async def test_removing_the_last_key_deletes_the_cookie(client: Client, start: datetime) -> None:
    """Django tests/sessions_tests/tests.py::SessionMiddlewareTests::test_empty_session_saved."""
    await put(client, "foo", "bar")
    assert deletes_cookie(await client.get("/s/del/foo"), start)


async def test_clearing_a_session_without_a_cookie_sends_none(client: Client) -> None:
    """Django tests/sessions_tests/tests.py::SessionMiddlewareTests::

    test_flush_empty_without_session_cookie_doesnt_set_cookie.
    """
    assert set_cookie_headers(await client.get("/s/clear")) == []


# --- unknown cookies -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_an_unknown_session_id_creates_no_record(app: Quart) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::

    test_session_load_does_not_create_record.
    """
    stranger = replay(app, UNKNOWN_ID)
    assert await lookup(stranger, "cat") == (False, None)
    assert await stored_records(app) == 0


async def test_a_write_under_an_unknown_cookie_gets_a_new_one(app: Quart) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_invalid_key."""
    stranger = replay(app, UNKNOWN_ID)
    issued = session_cookie(await put(stranger, "cat", "dog"))["value"]
    assert issued not in ("", UNKNOWN_ID)
    assert await read(replay(app, issued), "cat") == "dog"


# --- permanent sessions --------------------------------------------------------------------------


async def test_a_permanent_session_cookie_expires_after_the_lifetime(
    client: Client, start: datetime
) -> None:
    """Flask tests/test_basic.py::test_session_expiration (permanent)."""
    await put(client, "test", 42)
    attributes = session_cookie(await client.get("/s/permanent/on"))
    assert attributes["expires"] == http_date(start + LIFETIME)


async def test_a_browser_session_cookie_has_no_expiry(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_expiration (not permanent)."""
    attributes = session_cookie(await put(client, "test", 42))
    assert "expires" not in attributes
    assert "max-age" not in attributes


async def test_the_permanent_flag_is_kept(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_expiration (/test reads ``session.permanent``)."""
    await put(client, "test", 42)
    await client.get("/s/permanent/on")
    assert await (await client.get("/s/is-permanent")).get_data(as_text=True) == "True"


async def test_ending_permanence_resends_the_cookie_without_expiry(client: Client) -> None:
    """Flask tests/test_basic.py::test_session_expiration (permanent = False afterwards)."""
    await put(client, "test", 42)
    await client.get("/s/permanent/on")
    attributes = session_cookie(await client.get("/s/permanent/off"))
    assert attributes["value"] != ""
    assert "expires" not in attributes
    assert "max-age" not in attributes


@pytest.mark.parametrize(("permanent", "resent"), [
    pytest.param("on", True, marks=pytest.mark.config(SESSION_REFRESH_EACH_REQUEST=True),
                 id="permanent-refresh"),
    pytest.param("on", False, id="permanent-no-refresh"),
    pytest.param("off", False, marks=pytest.mark.config(SESSION_REFRESH_EACH_REQUEST=True),
                 id="browser-session-refresh"),
    pytest.param("off", False, id="browser-session-no-refresh"),
])
async def test_refresh_each_request_resends_only_a_permanent_cookie(
    client: Client, time_machine: TimeMachineFixture, start: datetime,
    permanent: str, resent: bool,
) -> None:
    """Flask tests/test_basic.py::test_session_cookie_setting."""
    for expected in ("1", "2", "3"):
        response = await client.get(f"/s/bump/{permanent}")
        assert await response.get_data(as_text=True) == expected
    time_machine.shift(timedelta(seconds=30))  # under a minute: no activity to record
    response = await client.get("/s/get/foo")
    assert SERIALIZER.loads(await response.get_data(as_text=True))["value"] == 3
    if resent:
        expires = session_cookie(response)["expires"]
        assert expires == http_date(start + timedelta(seconds=30) + LIFETIME)
    else:
        assert set_cookie_headers(response) == []


# --- flashed messages ----------------------------------------------------------------------------


async def test_a_flashed_message_is_shown_once_after_the_redirect(visitor: Client) -> None:
    """Flask tests/test_basic.py::test_extended_flashing (/test/), after a redirect."""
    response = await visitor.get("/s/flash")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/s/messages")
    assert await answer(visitor, "/s/messages") == [message for _, message in FLASHED]
    assert await answer(visitor, "/s/messages") == []


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param({"with_categories": "1"}, FLASHED, id="with_categories"),
    pytest.param({"with_categories": "1", "filter": "message"},
                 [("message", "Hello World")], id="filter"),
    pytest.param({"with_categories": "1", "filter": ["message", "warning"]},
                 [FLASHED[0], FLASHED[2]], id="filters"),
    pytest.param({"filter": ["message", "warning"]},
                 ["Hello World", Markup("<em>Testing</em>")],
                 id="filters_without_returning_categories"),
])
async def test_flashed_messages_by_category(
    client: Client, query: dict[str, Any], expected: list[Any]
) -> None:
    """Flask tests/test_basic.py::test_extended_flashing (categories and category_filter)."""
    await client.get("/s/flash")
    assert await answer(client, "/s/messages", **query) == expected


async def test_a_second_flash_saves_again(client: Client) -> None:
    """Flask tests/test_basic.py::test_flashes (modified reset between two flashes)."""
    await client.get("/s/flash-zap-zip")
    assert await answer(client, "/s/messages") == ["Zap", "Zip"]


# --- the test client's session_transaction -------------------------------------------------------


async def test_session_transaction_sees_the_session(client: Client) -> None:
    """Quart tests/test_testing.py::test_session_transactions."""
    await put(client, "foo", [1, 2])
    async with client.session_transaction() as transaction:
        assert transaction.get("foo") == [1, 2]


async def test_session_transaction_can_set_the_session(client: Client) -> None:
    """Quart tests/test_testing.py::test_session_transactions."""
    async with client.session_transaction() as transaction:
        transaction["foo"] = "bar"
    assert await read(client, "foo") == "bar"


# --- lifetimes of a visitor's data ---------------------------------------------------------------


async def test_anonymous_data_used_within_the_idle_timeout_stays(
    client: Client, time_machine: TimeMachineFixture
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_actual_expiry (in time)."""
    await put(client, "theme", "dark")
    time_machine.shift(IDLE - MINUTE)
    assert await read(client, "theme") == "dark"


async def test_using_anonymous_data_slides_the_idle_timeout(
    client: Client, time_machine: TimeMachineFixture
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_actual_expiry (sliding)."""
    await put(client, "theme", "dark")
    time_machine.shift(IDLE - 10 * MINUTE)
    assert await read(client, "theme") == "dark"
    time_machine.shift(IDLE - 10 * MINUTE)
    assert await read(client, "theme") == "dark"


async def test_anonymous_data_unused_past_the_idle_timeout_is_gone(
    app: Quart, client: Client, time_machine: TimeMachineFixture
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_actual_expiry."""
    await put(client, "theme", "dark")
    assert await read(client, "theme") == "dark"
    cookie = jar_cookie(client)
    time_machine.shift(IDLE + MINUTE)
    assert await lookup(replay(app, cookie), "theme") == (False, None)


async def test_a_permanent_anonymous_session_outlives_the_idle_timeout(
    client: Client, time_machine: TimeMachineFixture
) -> None:
    """Flask-Session tests/abs_test.py::_test_lifetime (permanent: alive before the lifetime)."""
    await put(client, "theme", "dark")
    await client.get("/s/permanent/on")
    time_machine.shift(LIFETIME - timedelta(days=1))
    assert await read(client, "theme") == "dark"


async def test_a_permanent_anonymous_session_unused_past_its_lifetime_is_gone(
    app: Quart, client: Client, time_machine: TimeMachineFixture
) -> None:
    """Flask-Session tests/abs_test.py::_test_lifetime (gone after the lifetime)."""
    await put(client, "theme", "dark")
    await client.get("/s/permanent/on")
    assert await read(client, "theme") == "dark"
    cookie = jar_cookie(client)
    time_machine.shift(LIFETIME + MINUTE)
    assert await lookup(replay(app, cookie), "theme") == (False, None)


@pytest.mark.config(SESSION_ABSOLUTE_TIMEOUT=timedelta(hours=2))
async def test_anonymous_data_older_than_the_absolute_timeout_is_gone_though_used(
    app: Quart, client: Client, time_machine: TimeMachineFixture
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_actual_expiry.

    For SESSION_ABSOLUTE_TIMEOUT, here 2 hours, with the data used every 10 minutes.
    """
    await put(client, "theme", "dark")
    for _ in range(11):  # used every 10 minutes, up to 1 h 50 min
        time_machine.shift(10 * MINUTE)
        assert await read(client, "theme") == "dark"
    time_machine.shift(9 * MINUTE)  # 1 h 59 min: still young enough
    assert await read(client, "theme") == "dark"
    cookie = jar_cookie(client)
    time_machine.shift(2 * MINUTE)  # 2 h 1 min
    assert await lookup(replay(app, cookie), "theme") == (False, None)


async def test_a_permanent_session_older_than_the_absolute_timeout_is_gone_though_used(
    app: Quart, client: Client, time_machine: TimeMachineFixture
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_actual_expiry.

    For the default 30-day SESSION_ABSOLUTE_TIMEOUT, a permanent session used every 6 days.
    """
    await put(client, "theme", "dark")
    await client.get("/s/permanent/on")
    for _ in range(4):  # used every 6 days, up to day 24
        time_machine.shift(timedelta(days=6))
        assert await read(client, "theme") == "dark"
    time_machine.shift(timedelta(days=6) - MINUTE)  # 29 days 23:59
    assert await read(client, "theme") == "dark"
    cookie = jar_cookie(client)
    time_machine.shift(2 * MINUTE)  # 30 days and a minute
    assert await lookup(replay(app, cookie), "theme") == (False, None)


# --- logging in and out --------------------------------------------------------------------------


async def test_login_keeps_the_visitors_own_data(auth: AuthActions, user: User) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_cycle (data kept)."""
    await put(auth.client, "cart", [1, 2])
    assert (await auth.login()).status_code == 303
    assert await read(auth.client, "cart") == [1, 2]


async def test_login_gives_the_visitors_session_a_new_cookie(
    auth: AuthActions, user: User
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_cycle (new key)."""
    await put(auth.client, "cart", [1, 2])
    before = jar_cookie(auth.client)
    assert (await auth.login()).status_code == 303
    after = jar_cookie(auth.client)
    assert before is not None
    assert after is not None
    assert after != before


async def test_the_cookie_from_before_login_is_not_logged_in(
    app: Quart, auth: AuthActions, user: User
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_cycle.

    cycle_key: the old key does not carry the login (no session fixation).
    """
    await put(auth.client, "cart", [1, 2])
    before = jar_cookie(auth.client)
    assert before is not None
    assert (await auth.login()).status_code == 303
    assert (await replay(app, before).get("/profile")).status_code == 302


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_login_deletes_the_record_from_before(
    app: Quart, auth: AuthActions, user: User
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_cycle (old key deleted)."""
    await put(auth.client, "cart", [1, 2])
    before = jar_cookie(auth.client)
    assert await record_exists(app, before)
    assert (await auth.login()).status_code == 303
    assert not await record_exists(app, before)


async def test_logging_in_over_another_users_session_starts_empty(
    auth: AuthActions, store: UserStore, user: User
) -> None:
    """Django tests/auth_tests/test_views.py::LoginTest::test_session_key_flushed_on_login."""
    await store.create("bob", PASSWORD)
    assert (await auth.login("bob")).status_code == 303
    await put(auth.client, "cart", [1, 2])
    assert await read(auth.client, "cart") == [1, 2]
    assert (await log_in_again(auth, "alice")).status_code == 303
    assert await lookup(auth.client, "cart") == (False, None)


async def test_logout_empties_the_session(auth: AuthActions, user: User) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_flush (logout)."""
    assert (await auth.login()).status_code == 303
    await put(auth.client, "cart", [1, 2])
    assert await read(auth.client, "cart") == [1, 2]
    assert (await auth.logout()).status_code == 303
    assert await lookup(auth.client, "cart") == (False, None)


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_logout_deletes_the_record(app: Quart, auth: AuthActions, user: User) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::test_flush (old key gone)."""
    assert (await auth.login()).status_code == 303
    await put(auth.client, "cart", [1, 2])
    old = jar_cookie(auth.client)
    assert await record_exists(app, old)
    assert (await auth.logout()).status_code == 303  # its flash may start a new record
    assert not await record_exists(app, old)


async def test_the_views_keys_named_like_login_fields_leave_the_login_alone(
    auth: AuthActions, user: User
) -> None:
    """Flask's ``_permanent``/``_flashes`` and Flask-Login's ``_user_id``: reserved ``_`` keys."""
    assert (await auth.login()).status_code == 303
    assert (await auth.client.get("/s/reserved")).status_code == 200
    assert await read(auth.client, "uid") == "x"
    response = await auth.client.get("/profile")
    assert response.status_code == 200
    assert ">alice<" in await response.get_data(as_text=True)


async def logged_out_cookie(auth: AuthActions) -> str | None:
    """Log in, keep a copy of the cookie, log out: the copy an old tab or a thief holds."""
    assert (await auth.login()).status_code == 303
    old = jar_cookie(auth.client)
    assert (await auth.logout()).status_code == 303
    return old


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_a_logged_out_cookie_stays_anonymous(
    app: Quart, auth: AuthActions, user: User
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::

    test_session_save_does_not_resurrect_session_logged_out_in_other_context.
    """
    old = await logged_out_cookie(auth)
    response = await replay(app, old).get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile"


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
async def test_writing_through_a_logged_out_cookie_does_not_bring_the_login_back(
    app: Quart, auth: AuthActions, user: User
) -> None:
    """Django tests/sessions_tests/tests.py::SessionTestsMixin::

    test_session_save_does_not_resurrect_session_logged_out_in_other_context.
    """
    old = await logged_out_cookie(auth)
    ghost = replay(app, old)
    await put(ghost, "cart", [1, 2])
    assert (await ghost.get("/profile")).status_code == 302
    assert (await replay(app, old).get("/profile")).status_code == 302


# --- size limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["cookie"], indirect=True)
@pytest.mark.config(PROPAGATE_EXCEPTIONS=False)  # as served: TESTING would re-raise instead
async def test_an_oversized_cookie_is_a_500_at_the_write(client: Client) -> None:
    """Werkzeug dump_cookie max_size (4093): a cookie the browser would drop is an error."""
    assert (await client.get("/s/blob/64")).status_code == 200
    response = await client.get("/s/blob/4096")
    assert response.status_code == 500
    assert all(len(header) <= MAX_COOKIE_BYTES for header in set_cookie_headers(response))


@pytest.mark.parametrize("backend", ["cookie"], indirect=True)
@pytest.mark.config(PROPAGATE_EXCEPTIONS=False)
async def test_an_oversized_cookie_is_logged_with_its_size(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Werkzeug dump_cookie max_size (4093): the operator learns how big the session got."""
    await client.get("/s/blob/4096")
    sizes = [int(n) for n in re.findall(r"\b\d+\b", logged_text(caplog))]
    assert any(size > MAX_COOKIE_BYTES for size in sizes), logged_text(caplog)


@pytest.mark.parametrize("backend", SERVER_SIDE, indirect=True)
@pytest.mark.config(PROPAGATE_EXCEPTIONS=False, SESSION_MAX_BYTES=1024)
async def test_an_oversized_record_is_a_500_at_the_write(client: Client) -> None:
    """SESSION_MAX_BYTES: a record over the limit is an error, never a silent loss."""
    assert (await client.get("/s/blob/64")).status_code == 200
    assert (await client.get("/s/blob/1024")).status_code == 500
