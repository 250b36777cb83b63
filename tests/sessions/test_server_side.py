"""What only a server-side store has, on memory and Redis: ids, records and their expiry."""

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import time_machine
from markupsafe import Markup
from quart import Quart, session
from quart.typing import TestClientProtocol as Client
from redis.asyncio import Redis

from quart_app.sessions import raise_open_failure
from quart_app.sessions.memory import MemoryStore
from quart_app.sessions.server_side import ServerSideSession, ServerSideSessionInterface
from quart_app.sessions.store import SessionStore
from quart_app.users import User, get_store

from ..conftest import (
    COOKIE,
    PASSWORD,
    AuthActions,
    config_on_backends,
    cookie_attributes,
    jar_cookie,
    log_in,
    replay,
    set_cookie_headers,
)

config = config_on_backends("memory", "redis")


@pytest.fixture
def interface(app: Quart) -> ServerSideSessionInterface:
    interface = app.session_interface
    assert isinstance(interface, ServerSideSessionInterface)
    return interface


@pytest.fixture
def store(interface: ServerSideSessionInterface) -> SessionStore:
    """The session store (this module's ``store``; the user store is ``app``'s)."""
    return interface.store


@pytest.fixture
async def alice(app: Quart) -> User:
    from quart_app.users import get_store

    async with app.app_context():
        return await get_store().create("alice", PASSWORD)


async def reopen(app: Quart, cookie: str | None) -> ServerSideSession:
    """The session a request with this cookie opens, record read, as a view would see it."""
    async with app.test_request_context("/", headers={"Cookie": f"{COOKIE}={cookie}"}):
        opened = session._get_current_object()
    assert isinstance(opened, ServerSideSession)
    return opened


async def stored_keys(app: Quart) -> list[str]:
    """Every key under this app's prefix, read with a client of the test's own."""
    client = Redis.from_url(app.config["REDIS_URL"], decode_responses=True)
    try:
        return [key async for key in client.scan_iter(f"{app.config['SESSION_KEY_PREFIX']}*")]
    finally:
        await client.aclose()


async def test_the_cookie_holds_only_an_opaque_256_bit_id(
    app: Quart, client: Client, alice: User
) -> None:
    cookie = await log_in(app, client, alice)
    assert len(cookie) == 43
    assert set(cookie) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


async def test_a_sessions_public_handle_is_the_sha256_prefix_of_its_id(
    app: Quart, client: Client, alice: User, interface: ServerSideSessionInterface
) -> None:
    cookie = await log_in(app, client, alice)
    listed = await interface.user_sessions(alice.id)
    assert listed is not None
    [stored] = listed
    assert stored.handle == hashlib.sha256(cookie.encode()).hexdigest()[:32]


async def test_logout_deletes_the_record(
    app: Quart, auth: AuthActions, alice: User, store: SessionStore
) -> None:
    cookie = await log_in(app, auth.client, alice)
    await auth.logout()
    assert await store.load(cookie) is None
    assert await store.user_session_ids(alice.id) == []


async def test_login_deletes_the_record_from_before(
    app: Quart, auth: AuthActions, alice: User, store: SessionStore
) -> None:
    before = await log_in(app, auth.client, alice)
    form = {"username": "alice", "password": PASSWORD, "csrf_token": await auth.token("/profile")}
    await auth.client.post("/login", form=form)
    assert await store.load(before) is None
    assert await store.user_session_ids(alice.id) == [jar_cookie(auth.client)]


@pytest.mark.parametrize("cookie", ["A" * 43, "not an id", "A" * 44, "é" * 43])
async def test_an_unknown_or_malformed_id_is_anonymous_and_its_cookie_deleted(
    app: Quart, alice: User, store: SessionStore, cookie: str
) -> None:
    response = await replay(app, cookie).get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["max-age"] == "0"
    assert await store.load(cookie) is None


async def test_a_planted_id_is_not_adopted_at_login(
    app: Quart, auth: AuthActions, alice: User, store: SessionStore
) -> None:
    planted = "B" * 43
    auth.client.set_cookie("localhost", COOKIE, planted)
    await auth.login()
    issued = jar_cookie(auth.client)
    assert issued != planted
    assert await store.load(planted) is None
    assert await store.user_session_ids(alice.id) == [issued]


@pytest.mark.parametrize(
    "record",
    ["not json", "[]", '"text"', '{"data": [], "meta": {}}', '{"data": {"uid": 1}, "meta": null}'],
    ids=["not-json", "list", "string", "data-not-a-mapping", "meta-not-a-mapping"],
)
async def test_a_record_that_is_not_one_of_ours_is_anonymous_and_its_cookie_deleted(
    app: Quart, alice: User, store: SessionStore, record: str
) -> None:
    foreign = "C" * 43
    assert await store.save(foreign, record, alice.id, int(time.time()) + 600, must_create=True)
    response = await replay(app, foreign).get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["max-age"] == "0"


async def test_the_id_cookie_has_the_secure_attributes(auth: AuthActions, alice: User) -> None:
    [header] = set_cookie_headers(await auth.login())
    attributes = cookie_attributes(header)
    assert {"secure", "httponly"} <= set(attributes)
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes


async def test_without_remember_the_id_cookie_ends_with_the_browser(
    auth: AuthActions, alice: User
) -> None:
    [header] = set_cookie_headers(await auth.login())
    attributes = cookie_attributes(header)
    assert "expires" not in attributes
    assert "max-age" not in attributes


async def test_with_remember_the_id_cookie_expires_after_the_remember_me_lifetime(
    auth: AuthActions, alice: User, now: time_machine.TimeMachineFixture
) -> None:
    [header] = set_cookie_headers(await auth.login(remember=True))
    expires = parsedate_to_datetime(cookie_attributes(header)["expires"])
    assert expires == datetime.fromtimestamp(int(time.time()), UTC) + timedelta(days=7)


async def test_activity_written_back_slides_the_remembered_id_cookie(
    auth: AuthActions, alice: User, now: time_machine.TimeMachineFixture
) -> None:
    await auth.login(remember=True)
    now.shift(timedelta(minutes=2))
    [header] = set_cookie_headers(await auth.client.get("/profile"))
    expires = parsedate_to_datetime(cookie_attributes(header)["expires"])
    assert expires == datetime.fromtimestamp(int(time.time()), UTC) + timedelta(days=7)


async def test_a_remembered_id_cookie_is_not_resent_within_a_minute_of_the_last_write(
    auth: AuthActions, alice: User, now: time_machine.TimeMachineFixture
) -> None:
    await auth.login(remember=True)
    now.shift(timedelta(seconds=59))
    assert set_cookie_headers(await auth.client.get("/profile")) == []


async def test_logout_gives_the_flashed_message_a_new_id_and_the_next_page_deletes_it(
    app: Quart, auth: AuthActions, alice: User, store: SessionStore
) -> None:
    cookie = await log_in(app, auth.client, alice, remember=True)
    [header] = set_cookie_headers(await auth.logout())
    flashed = cookie_attributes(header)["value"]
    assert flashed not in ("", cookie)
    assert await store.load(cookie) is None
    [header] = set_cookie_headers(await auth.client.get("/logout"))
    attributes = cookie_attributes(header)
    assert attributes["value"] == ""
    assert attributes["max-age"] == "0"
    assert await store.load(flashed) is None


async def test_a_page_that_reads_the_session_varies_on_cookie(
    app: Quart, client: Client, alice: User
) -> None:
    await log_in(app, client, alice)
    response = await client.get("/profile")
    assert "Cookie" in response.vary


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/profile", "/logout", "/nope"])
async def test_anonymous_page_views_store_nothing(
    app: Quart, client: Client, store: SessionStore, path: str
) -> None:
    for _ in range(3):
        await client.get(path)
    if app.config["SESSION_BACKEND"] == "redis":
        assert await stored_keys(app) == []
    else:
        assert isinstance(store, MemoryStore)
        assert len(store) == 0


async def test_a_request_in_flight_cannot_resurrect_a_revoked_session(
    app: Quart, client: Client, alice: User, store: SessionStore,
    now: time_machine.TimeMachineFixture,
) -> None:
    cookie = await log_in(app, client, alice)
    now.shift(timedelta(minutes=2))  # so the next request writes its activity back

    async def revoke_meanwhile() -> None:
        await store.delete(cookie)

    before_request = app.before_request_funcs[None]  # after the load, before the user:
    before_request.insert(before_request.index(raise_open_failure) + 1, revoke_meanwhile)
    response = await client.get("/profile")
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["max-age"] == "0"
    assert await store.load(cookie) is None
    assert await store.user_session_ids(alice.id) == []


async def test_a_session_its_user_revoked_is_deleted_and_its_cookie_replaced(
    app: Quart, client: Client, alice: User, store: SessionStore
) -> None:
    cookie = await log_in(app, client, alice)
    async with app.app_context():
        await get_store().bump_session_version(alice.id, "ended-elsewhere")
    response = await client.get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["value"] not in ("", cookie)
    assert await store.load(cookie) is None


async def record_ttl(app: Quart, session_id: str) -> int:
    """The seconds Redis will keep this session's record."""
    redis = Redis.from_url(app.config["REDIS_URL"])
    try:
        ttl: int = await redis.ttl(f"{app.config['SESSION_KEY_PREFIX']}s:{session_id}")
    finally:
        await redis.aclose()
    return ttl


@pytest.mark.parametrize(("remember", "lifetime"), [(False, timedelta(minutes=30)),
                                                    (True, timedelta(days=7))])
async def test_the_record_is_kept_past_its_expiry_only_for_the_end_notice(
    app: Quart, client: Client, alice: User, store: SessionStore,
    now: time_machine.TimeMachineFixture, remember: bool, lifetime: timedelta,
) -> None:
    cookie = await log_in(app, client, alice, remember=remember)
    kept = lifetime + timedelta(days=1)  # SESSION_END_NOTICE's default, per the README
    if app.config["SESSION_BACKEND"] == "redis":
        ttl = await record_ttl(app, cookie)
        assert kept.total_seconds() - 5 <= ttl <= kept.total_seconds()
        return
    now.shift(kept - timedelta(seconds=1))
    assert await store.load(cookie) is not None
    now.shift(timedelta(seconds=1))
    assert await store.load(cookie) is None


@pytest.mark.parametrize(("remember", "lifetime"), [(False, timedelta(minutes=30)),
                                                    (True, timedelta(days=7))])
async def test_the_record_leaves_the_list_when_the_policy_would_refuse_it(
    app: Quart, client: Client, alice: User, store: SessionStore,
    now: time_machine.TimeMachineFixture, remember: bool, lifetime: timedelta,
) -> None:
    await log_in(app, client, alice, remember=remember)
    now.shift(lifetime - timedelta(seconds=1))
    assert len(await store.user_session_ids(alice.id)) == 1
    now.shift(timedelta(seconds=1))
    assert await store.user_session_ids(alice.id) == []


@pytest.mark.config(SESSION_END_NOTICE=0)
async def test_without_an_end_notice_the_record_expires_with_the_session(
    app: Quart, client: Client, alice: User, store: SessionStore,
    now: time_machine.TimeMachineFixture,
) -> None:
    cookie = await log_in(app, client, alice)
    if app.config["SESSION_BACKEND"] == "redis":
        ttl = await record_ttl(app, cookie)
        assert 30 * 60 - 5 <= ttl <= 30 * 60
        return
    now.shift(timedelta(minutes=30))
    assert await store.load(cookie) is None


async def test_activity_is_written_back_at_most_once_a_minute(
    app: Quart, client: Client, alice: User, store: SessionStore,
    now: time_machine.TimeMachineFixture,
) -> None:
    cookie = await log_in(app, client, alice)
    first = await store.load(cookie)
    now.shift(timedelta(seconds=59))
    assert (await client.get("/profile")).status_code == 200
    assert await store.load(cookie) == first
    now.shift(timedelta(seconds=1))
    assert (await client.get("/profile")).status_code == 200
    assert await store.load(cookie) != first


@pytest.mark.parametrize(
    "value",
    [(1, "two"), b"\x00bytes", datetime(2026, 11, 2, 9, 0, tzinfo=UTC), uuid.UUID(int=7),
     Markup("<b>safe</b>")],
    ids=["tuple", "bytes", "datetime", "uuid", "markup"],
)
async def test_special_types_round_trip_through_the_store(
    app: Quart, client: Client, alice: User, interface: ServerSideSessionInterface,
    value: object,
) -> None:
    cookie = await log_in(app, client, alice)
    async with app.test_request_context("/", headers={"Cookie": f"{COOKIE}={cookie}"}):
        assert isinstance(session, ServerSideSession)
        session["value"] = value
        await interface.persist(session)
    reopened = await reopen(app, cookie)
    assert reopened["value"] == value
    assert type(reopened["value"]) is type(value)


async def test_the_record_holds_what_a_sessions_page_shows(
    auth: AuthActions, alice: User, interface: ServerSideSessionInterface,
    now: time_machine.TimeMachineFixture,
) -> None:
    token = await auth.token()
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    await auth.client.post("/login", form=form, headers={"User-Agent": "Agent " + "x" * 500},
                           scope_base={"client": ("203.0.113.9", 50000)})
    reopened = await reopen(auth.client.app, jar_cookie(auth.client))
    assert reopened.meta == {"created": int(datetime.now(UTC).timestamp()),
                             "user_agent": ("Agent " + "x" * 500)[:200],
                             "address": "203.0.113.9"}


async def test_the_log_out_button_of_a_session_ended_elsewhere_still_logs_out(
    app: Quart, auth: AuthActions, alice: User, store: SessionStore
) -> None:
    cookie = await log_in(app, auth.client, alice)
    stale_page_token = await auth.token("/profile")
    await store.delete(cookie)
    response = await auth.client.post("/logout", form={"csrf_token": stale_page_token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/logout"
