"""Login throttling (ASVS 6.3.1): counted before the password check, shared, cheap to hit.

The app-level tests run on the default embedded store (SQLite) with small
limits (3 per account, 6 per address); the concurrency guarantee and what is
stored run on SQLite, PostgreSQL and Redis, and the store contract every
``ThrottleStore`` passes is ``tests/test_throttle_store.py``. "No hash was
computed" is observed on the real hasher: its only thread is held and its
queue is 0, so any hash would be refused at once with a 503 instead of the
429 a throttled attempt gets.
"""

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
import time_machine
from quart import Quart
from redis.asyncio import Redis
from sqlalchemy import select

from quart_app import create_app
from quart_app.config import ConfigError
from quart_app.passwords import PasswordHasher
from quart_app.throttle import Throttle, wait_in_words
from quart_app.users import User, UserStore, get_store, login_failures_table

from .conftest import (
    PASSWORD,
    TEST_REDIS_URL,
    AuthActions,
    fresh_postgres_database,
    fresh_redis_prefix,
    jar_cookie,
    log_in,
    started_app,
)
from .live_server import create_user
from .outage import SqliteOutage, proxied
from .test_passwords import pool_held
from .test_scale_out import two_instances
from .test_server import Visitor

WRONG: Final = "not the password at all"
SMALL = {"account": [3, 900], "address": [6, 900]}
STORES: Final = ["sqlite", "postgresql", "redis"]

pytestmark = pytest.mark.config(LOGIN_THROTTLE=SMALL)


async def statuses(auth: AuthActions, attempts: list[tuple[str, str]]) -> list[int]:
    """Submit the login form once per ``(username, password)``, in order."""
    return [(await auth.login(name, password)).status_code for name, password in attempts]


# --- over a limit ---------------------------------------------------------------------------


async def test_over_the_account_limit_is_429_with_retry_after_and_the_wait_in_words(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
) -> None:
    assert await statuses(auth, [("alice", WRONG)] * 3) == [401, 401, 401]
    clock.shift(timedelta(seconds=60))
    refused = await auth.login("alice", WRONG)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "840"
    body = await refused.get_data(as_text=True)
    assert ("Too many failed logins for this account. Logging in to it is paused for "
            "14 minutes; then the right password works again.") in body
    assert "<h1>Please wait</h1>" in body  # the site's error page


@pytest.mark.config(LOGIN_THROTTLE=SMALL, PASSWORD_HASH_QUEUE=0)
async def test_a_throttled_login_computes_no_hash_even_with_the_right_password(
    auth: AuthActions, user: User, store: UserStore,
) -> None:
    assert await statuses(auth, [("alice", WRONG)] * 3) == [401, 401, 401]
    async with pool_held(store.hasher):  # any hash now would be a 503 at once
        response = await auth.login("alice", PASSWORD)
    assert response.status_code == 429


@pytest.mark.config(LOGIN_THROTTLE=SMALL, PASSWORD_HASH_QUEUE=0)
async def test_a_login_refused_by_the_full_hashing_queue_is_not_counted(
    auth: AuthActions, user: User, store: UserStore,
) -> None:
    async with pool_held(store.hasher):  # every login now is a 503 before its hash
        assert await statuses(auth, [("alice", PASSWORD)] * 7) == [503] * 7
    assert await statuses(auth, [("alice", WRONG)] * 3) == [401, 401, 401]
    assert (await auth.login("alice", WRONG)).status_code == 429


@pytest.mark.config(LOGIN_THROTTLE={"registration": [2, 3600]}, PASSWORD_HASH_QUEUE=0)
async def test_a_registration_refused_by_the_full_hashing_queue_is_not_counted(
    auth: AuthActions, store: UserStore,
) -> None:
    async with pool_held(store.hasher):
        assert [(await auth.register(f"user{n}")).status_code for n in range(3)] == [503] * 3
    assert (await auth.register("bob")).status_code == 303
    assert (await auth.register("carol")).status_code == 303
    assert (await auth.register("dave")).status_code == 429


async def test_the_account_count_ignores_the_case_of_the_typed_name(
    auth: AuthActions, user: User,
) -> None:
    attempts = [("alice", WRONG), ("ALICE", WRONG), ("Alice", WRONG), ("aLiCe", PASSWORD)]
    assert await statuses(auth, attempts) == [401, 401, 401, 429]


@pytest.mark.config(LOGIN_THROTTLE={"account": [3, 900]})
async def test_an_unknown_name_is_counted_exactly_like_an_existing_account(
    app: Quart, user: User,
) -> None:
    existing = await statuses(AuthActions(app.test_client()), [("alice", WRONG)] * 4)
    unknown = await statuses(AuthActions(app.test_client()), [("nobody", WRONG)] * 4)
    assert existing == unknown == [401, 401, 401, 429]


async def test_one_accounts_failures_do_not_throttle_another_account(
    auth: AuthActions, user: User, store: UserStore,
) -> None:
    await store.create("bob", PASSWORD)
    assert await statuses(auth, [("alice", WRONG)] * 4) == [401, 401, 401, 429]
    assert (await auth.login("bob", PASSWORD)).status_code == 303


async def test_the_address_limit_stops_guessing_spread_over_many_names(
    auth: AuthActions,
) -> None:
    names = [f"user{i}" for i in range(7)]
    assert await statuses(auth, [(name, WRONG) for name in names]) == [401] * 6 + [429]


async def test_a_paused_address_is_named_as_the_network_not_the_account(
    auth: AuthActions,
) -> None:
    await statuses(auth, [(f"user{i}", WRONG) for i in range(6)])
    refused = await auth.login("someone-new", WRONG)
    assert refused.status_code == 429
    assert ("Too many failed logins from your network. Logging in from it is paused for "
            "15 minutes.") in await refused.get_data(as_text=True)


@pytest.mark.config(LOGIN_THROTTLE={"account": [3, 900]})
async def test_a_successful_login_resets_the_accounts_count(app: Quart, user: User) -> None:
    before = [("alice", WRONG)] * 2 + [("alice", PASSWORD)]
    assert await statuses(AuthActions(app.test_client()), before) == [401, 401, 303]
    after = await statuses(AuthActions(app.test_client()), [("alice", WRONG)] * 4)
    assert after == [401, 401, 401, 429]


async def test_successful_logins_do_not_use_up_their_addresss_allowance(
    app: Quart, user: User,
) -> None:
    office = [AuthActions(app.test_client()) for _ in range(20)]
    assert [(await v.login("alice", PASSWORD)).status_code for v in office] == [303] * 20
    newcomer = AuthActions(app.test_client())
    assert (await newcomer.register("bob")).status_code == 303
    await newcomer.logout()
    assert (await newcomer.login("bob", PASSWORD)).status_code == 303


async def test_failures_between_successes_still_count_against_the_address(
    app: Quart, user: User,
) -> None:
    guesser = AuthActions(app.test_client())
    attempts = [(f"user{i}", WRONG) for i in range(6)]
    for failure in attempts:
        assert (await AuthActions(app.test_client()).login("alice", PASSWORD)).status_code == 303
        assert (await guesser.login(*failure)).status_code == 401
    assert (await guesser.login("user9", WRONG)).status_code == 429


@pytest.mark.config(LOGIN_THROTTLE={"registration": [2, 3600]}, PASSWORD_HASH_QUEUE=0)
async def test_registration_is_counted_per_address_and_refused_without_hashing(
    auth: AuthActions, store: UserStore,
) -> None:
    assert (await auth.register("bob")).status_code == 303
    assert (await auth.register("bob")).status_code == 409  # taken: still an attempt
    async with pool_held(store.hasher):
        response = await auth.register("carol")
    assert response.status_code == 429
    assert ("Too many new accounts from your network. Try again in 60 minutes."
            in await response.get_data(as_text=True))
    assert await store.find("carol") is None


@pytest.mark.config(LOGIN_THROTTLE={"address": [2, 900], "registration": [20, 3600]})
async def test_registrations_and_failed_logins_have_separate_address_limits(
    auth: AuthActions,
) -> None:
    assert await statuses(auth, [("nobody", WRONG)] * 3) == [401, 401, 429]
    assert (await auth.register("bob")).status_code == 303


async def test_the_end_of_the_window_frees_the_account(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
) -> None:
    assert await statuses(auth, [("alice", WRONG)] * 4) == [401, 401, 401, 429]
    clock.shift(timedelta(seconds=899))
    assert (await auth.login("alice", PASSWORD)).status_code == 429
    clock.shift(timedelta(seconds=1))
    assert (await auth.login("alice", PASSWORD)).status_code == 303


# --- the current password on the account pages ---------------------------------------------

# The forms that ask for the current password again: (path, the page its token comes from, the
# form with a wrong password).
ACCOUNT_FORMS: Final = {
    "change-password": ("/account/password", "/account/password",
                        {"current": WRONG, "password": "a brand new passphrase",
                         "confirm": "a brand new passphrase"}),
    "delete-account": ("/account/delete", "/account/password", {"password": WRONG}),
    "revoke-others": ("/sessions/revoke-others", "/sessions", {"password": WRONG}),
}


async def confirm_statuses(browser: AuthActions, form_name: str, times: int,
                           password: str = WRONG) -> list[int]:
    """Submit one account form ``times`` times with ``password`` as the current password."""
    path, token_page, form = ACCOUNT_FORMS[form_name]
    answers = []
    for _ in range(times):
        typed = {key: password if value == WRONG else value for key, value in form.items()}
        response = await browser.client.post(
            path, form={**typed, "csrf_token": await browser.token(token_page)})
        answers.append(response.status_code)
    return answers


# SMALL allows 3 logins per account: each session may confirm 2 times (half, rounded up), all
# of an account's sessions together 3 times, apart from the logins. Here the address allows 100.
CONFIRMING: Final = {"account": [3, 900], "address": [100, 900]}


async def logged_in(app: Quart, user: User) -> AuthActions:
    """A new browser with a session of its own, logged in as ``user``."""
    browser = AuthActions(app.test_client())
    await log_in(app, browser.client, user)
    return browser


@pytest.mark.parametrize("form_name", list(ACCOUNT_FORMS))
async def test_wrong_current_passwords_on_an_account_form_are_throttled_per_session(
    app: Quart, user: User, form_name: str, clock: time_machine.TimeMachineFixture,
) -> None:
    browser = await logged_in(app, user)
    assert await confirm_statuses(browser, form_name, 2) == [403, 403]
    path, token_page, form = ACCOUNT_FORMS[form_name]
    response = await browser.client.post(
        path, form={**form, "csrf_token": await browser.token(token_page)})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "900"
    assert ("Too many wrong passwords in this session. Try again in 15 minutes."
            in await response.get_data(as_text=True))


@pytest.mark.config(LOGIN_THROTTLE=SMALL, PASSWORD_HASH_QUEUE=0)
@pytest.mark.parametrize("form_name", list(ACCOUNT_FORMS))
async def test_a_throttled_account_form_computes_no_hash_even_with_the_right_password(
    app: Quart, user: User, store: UserStore, form_name: str,
) -> None:
    browser = await logged_in(app, user)
    assert await confirm_statuses(browser, form_name, 2) == [403, 403]
    async with pool_held(store.hasher):  # any hash now would be a 503 at once
        assert await confirm_statuses(browser, form_name, 1, PASSWORD) == [429]
    assert await store.find("alice") is not None


@pytest.mark.parametrize("form_name", list(ACCOUNT_FORMS))
async def test_strangers_using_up_the_login_count_do_not_stop_the_owner_confirming(
    app: Quart, auth: AuthActions, user: User, store: UserStore, form_name: str,
) -> None:
    owner = await logged_in(app, user)
    assert await statuses(auth, [("alice", WRONG)] * 4) == [401, 401, 401, 429]  # a stranger
    assert await confirm_statuses(owner, form_name, 1, PASSWORD) == [303]
    if form_name == "change-password":
        assert await store.authenticate("alice", "a brand new passphrase") is not None
    elif form_name == "delete-account":
        assert await store.find("alice") is None


async def test_wrong_current_passwords_do_not_count_on_the_login_form(
    app: Quart, auth: AuthActions, user: User,
) -> None:
    browser = await logged_in(app, user)
    assert await confirm_statuses(browser, "revoke-others", 2) == [403, 403]
    assert await statuses(auth, [("alice", WRONG)] * 2 + [("alice", PASSWORD)]) == [401, 401, 303]


@pytest.mark.config(LOGIN_THROTTLE=CONFIRMING)
async def test_many_sessions_together_stop_at_the_accounts_confirmation_limit(
    app: Quart, auth: AuthActions, user: User,
) -> None:
    first, second, third = [await logged_in(app, user) for _ in range(3)]
    assert await confirm_statuses(first, "revoke-others", 3) == [403, 403, 429]  # its own 2
    assert await confirm_statuses(second, "revoke-others", 2) == [403, 429]  # the account's 3
    assert await confirm_statuses(third, "revoke-others", 1, PASSWORD) == [429]
    assert (await auth.login("alice", PASSWORD)).status_code == 303  # logins count apart


@pytest.mark.config(LOGIN_THROTTLE={"account": [10, 900]})
async def test_the_right_current_password_resets_the_sessions_count(
    app: Quart, user: User,
) -> None:
    browser = await logged_in(app, user)  # 5 per session, 10 for the account's sessions
    assert await confirm_statuses(browser, "revoke-others", 4) == [403] * 4
    assert await confirm_statuses(browser, "revoke-others", 1, PASSWORD) == [303]
    assert await confirm_statuses(browser, "revoke-others", 6) == [403] * 5 + [429]


@pytest.mark.config(LOGIN_THROTTLE=SMALL, PASSWORD_HASH_QUEUE=0)
async def test_a_confirmation_refused_by_the_full_hashing_queue_is_not_counted(
    app: Quart, user: User, store: UserStore,
) -> None:
    browser = await logged_in(app, user)
    async with pool_held(store.hasher):  # every confirmation now is a 503 before its hash
        assert await confirm_statuses(browser, "revoke-others", 7, PASSWORD) == [503] * 7
    assert await confirm_statuses(browser, "revoke-others", 3) == [403, 403, 429]


# --- the client address ---------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Remote-Addr"])
async def test_a_forged_address_header_is_not_the_address_counted(
    auth: AuthActions, header: str,
) -> None:
    answers = []
    for i in range(7):
        form = {"username": f"user{i}", "password": WRONG, "csrf_token": await auth.token()}
        response = await auth.client.post("/login", form=form,
                                          headers={header: f"198.51.100.{i}"})
        answers.append(response.status_code)
    assert answers == [401] * 6 + [429]


@pytest.mark.config(LOGIN_THROTTLE=SMALL, PROXY_FIX_HOPS=1)
async def test_behind_one_trusted_proxy_the_forwarded_address_is_counted(
    auth: AuthActions,
) -> None:
    async def attempt(name: str, forwarded_for: str) -> int:
        form = {"username": name, "password": WRONG, "csrf_token": await auth.token()}
        response = await auth.client.post(
            "/login", form=form, headers={"X-Forwarded-For": f"203.0.113.9, {forwarded_for}"})
        return response.status_code

    assert [await attempt(f"user{i}", "198.51.100.7") for i in range(7)] == [401] * 6 + [429]
    assert await attempt("someone", "198.51.100.8") == 401


def test_ipv6_clients_are_counted_per_64_prefix() -> None:
    assert Throttle.address_key("2001:db8:1:2:aaaa::1") == Throttle.address_key("2001:db8:1:2::9")
    assert Throttle.address_key("2001:db8:1:3::1") != Throttle.address_key("2001:db8:1:2::1")


@pytest.mark.parametrize("embedding", [
    "::ffff:192.0.2.1",  # IPv4-mapped: an IPv4 client on a dual-stack socket ([::]:8000)
    "2002:c000:201::1",  # 6to4: 2002:<the IPv4 address>::/48
    "2001:0:4136:e378:8000:63bf:3fff:fdfe",  # Teredo: the client's address, bits inverted
])
def test_an_ipv4_address_embedded_in_ipv6_is_counted_as_that_ipv4_address(
    embedding: str,
) -> None:
    assert Throttle.address_key(embedding) == Throttle.address_key("192.0.2.1")
    assert Throttle.address_key(embedding) != Throttle.address_key("::ffff:192.0.2.2")


def test_the_ipv6_loopback_is_counted_as_itself() -> None:
    assert Throttle.address_key("::1") == "address:::1"
    assert Throttle.address_key("::1") != Throttle.address_key("::ffff:192.0.2.1")
    assert Throttle.address_key("::1") != Throttle.address_key("::2")


async def login_from(auth: AuthActions, address: str, name: str) -> int:
    """Submit the login form from the client ``address`` (the socket's, as Hypercorn sets it)."""
    form = {"username": name, "password": WRONG, "csrf_token": await auth.token()}
    response = await auth.client.post("/login", form=form,
                                      scope_base={"client": (address, 50000)})
    return response.status_code


@pytest.mark.config(LOGIN_THROTTLE={"account": [3, 900], "address": [100, 900]})
async def test_one_ipv4_mapped_client_past_the_address_limit_blocks_no_other(
    auth: AuthActions,
) -> None:
    guesser = [await login_from(auth, "::ffff:192.0.2.1", f"user{i}") for i in range(101)]
    assert guesser == [401] * 100 + [429]
    assert await login_from(auth, "::ffff:192.0.2.2", "someone") == 401
    assert await login_from(auth, "::1", "someone") == 401
    assert await login_from(auth, "192.0.2.1", "someone") == 429  # the same client


# --- the wait in words, configuration -------------------------------------------------------


@pytest.mark.parametrize(("seconds", "words"), [
    (1, "1 second"), (59, "59 seconds"), (60, "1 minute"), (61, "2 minutes"),
    (840, "14 minutes"), (7199, "120 minutes"), (7200, "2 hours"), (86400, "24 hours"),
])
def test_the_wait_is_said_in_words_rounded_up(seconds: int, words: str) -> None:
    assert wait_in_words(seconds) == words


@pytest.mark.config
def test_the_defaults_are_stricter_than_asvs(config: dict[str, Any]) -> None:
    assert create_app(config).config["LOGIN_THROTTLE"] == {"account": (10, 900),
                                                           "address": (100, 900),
                                                           "registration": (20, 3600)}


@pytest.mark.config
def test_limits_can_be_set_as_json_in_the_environment(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUART_LOGIN_THROTTLE", '{"account": [5, 600]}')
    assert create_app(config).config["LOGIN_THROTTLE"] == {"account": (5, 600),
                                                           "address": (100, 900),
                                                           "registration": (20, 3600)}


@pytest.mark.config
def test_an_account_limit_weaker_than_asvs_is_refused_outside_tests(
    config: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError,
                       match=r"LOGIN_THROTTLE\.account: .* ASVS 4\.0\.3 2\.2\.1 allows 100"):
        create_app({**config, "TESTING": False, "PASSWORD_HASH_PARAMETERS": None,
                    "LOGIN_THROTTLE": {"account": [60, 3600]}})


# --- store outage ---------------------------------------------------------------------------


@pytest.fixture
async def redis_down_config(config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The Redis backend through a proxy that is already stopped."""
    async with fresh_redis_prefix() as (url, prefix), proxied(url) as (via_proxy, proxy):
        await proxy.stop()
        yield {**config, "SESSION_BACKEND": "redis", "REDIS_URL": via_proxy,
               "SESSION_KEY_PREFIX": prefix}


async def test_a_login_while_redis_is_down_is_a_503_before_any_hash(
    redis_down_config: dict[str, Any],
) -> None:
    app = create_app({**redis_down_config, "PASSWORD_HASH_QUEUE": 0})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        async with app.app_context():
            hasher = app.extensions["quart_app.users"].hasher
        assert isinstance(hasher, PasswordHasher)
        async with pool_held(hasher):
            response = await auth.login("alice", WRONG)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "counts login attempts is not answering" in await response.get_data(as_text=True)


@pytest.fixture
async def users_outage(config: dict[str, Any], tmp_path: Path,
                       ) -> AsyncIterator[tuple[AuthActions, SqliteOutage]]:
    """Counters in Redis, users (alice) in SQLite that the test makes go away."""
    (tmp_path / "db").mkdir()
    database = f"sqlite:///{tmp_path / 'db' / 'users.db'}"
    async with fresh_redis_prefix() as (url, prefix), started_app(
        {**config, "SESSION_BACKEND": "redis", "REDIS_URL": url, "SESSION_KEY_PREFIX": prefix,
         "DATABASE_URL": database},
    ) as app:
        async with app.app_context():
            store = get_store()
        await store.create("alice", PASSWORD)
        yield AuthActions(app.test_client()), SqliteOutage(store, tmp_path / "db")


async def test_a_login_refused_by_a_database_outage_is_not_counted(
    users_outage: tuple[AuthActions, SqliteOutage],
) -> None:
    auth, outage = users_outage
    await outage.start()
    assert await statuses(auth, [("alice", PASSWORD)] * 7) == [503] * 7
    await outage.end()
    assert await statuses(auth, [("alice", WRONG)] * 3) == [401, 401, 401]
    assert (await auth.login("alice", WRONG)).status_code == 429


@pytest.mark.config(LOGIN_THROTTLE={"registration": [2, 3600]})
async def test_a_registration_refused_by_a_database_outage_is_not_counted(
    users_outage: tuple[AuthActions, SqliteOutage],
) -> None:
    auth, outage = users_outage
    await outage.start()
    assert [(await auth.register(f"user{n}")).status_code for n in range(3)] == [503] * 3
    await outage.end()
    assert [(await auth.register(name)).status_code
            for name in ("bob", "carol", "dave")] == [303, 303, 429]


# --- atomic in front of the password check, on every store ---------------------------------


class CountingHasher(PasswordHasher):
    """The app's real hasher, counting the password checks that reach it."""

    checks = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        self.checks += 1
        return await super().verify(password_hash, password)


@pytest.fixture(params=STORES)
async def store_config(request: pytest.FixtureRequest,
                       config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The app's config with its throttle counters in each kind of store."""
    if request.param == "sqlite":
        yield config
    elif request.param == "postgresql":
        async with fresh_postgres_database() as url:
            yield {**config, "DATABASE_URL": url}
    else:
        async with fresh_redis_prefix() as (url, prefix):
            yield {**config, "SESSION_BACKEND": "redis", "REDIS_URL": url,
                   "SESSION_KEY_PREFIX": prefix}


async def test_twenty_concurrent_wrong_logins_let_exactly_the_limit_reach_the_password_check(
    store_config: dict[str, Any],
) -> None:
    app = create_app({**store_config, "LOGIN_THROTTLE": {"account": [5, 900]}})
    hasher = CountingHasher(app.config["PASSWORD_HASH_PARAMETERS"], max_waiting=20)
    try:
        async with app.test_app():
            users = app.extensions["quart_app.users"]
            assert isinstance(users, UserStore)
            await users.create("alice", PASSWORD)
            hasher.dummy_hash = users.hasher.dummy_hash
            users.hasher = hasher
            auth = AuthActions(app.test_client())
            form = {"username": "alice", "password": WRONG, "csrf_token": await auth.token()}
            answers = await asyncio.gather(*(auth.client.post("/login", form=form)
                                             for _ in range(20)))
    finally:
        hasher.close()
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 15
    assert hasher.checks == 5


# --- what is stored -------------------------------------------------------------------------


async def stored_counters(app: Quart) -> dict[str, str]:
    """Every throttle counter the app's store holds, key to value, as the store keeps them."""
    if app.config["SESSION_BACKEND"] == "redis":
        prefix = app.config["SESSION_KEY_PREFIX"] + "throttle:"
        admin = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
        try:
            keys = [key async for key in admin.scan_iter(match=f"{prefix}*")]
            return {key: str(await admin.get(key)) for key in keys}
        finally:
            await admin.aclose()
    users = app.extensions["quart_app.users"]
    assert isinstance(users, UserStore)
    async with users.engine.connect() as conn:
        rows = await conn.execute(select(login_failures_table))
        return {row.key: f"{row[1]} {row.window_start}" for row in rows}


async def test_a_typed_account_name_is_stored_only_as_an_hmac(
    store_config: dict[str, Any],
) -> None:
    name = "Zanzibar.Quokka_7731"
    app = create_app(store_config)
    async with app.test_app():
        assert (await AuthActions(app.test_client()).login(name, WRONG)).status_code == 401
        counters = await stored_counters(app)
    stored = repr(counters).lower()
    assert "quokka" not in stored
    [account_key] = [key for key in counters if "account:" in key]
    assert re.fullmatch(r".*account:[0-9a-f]{32}", account_key)  # counted, under its HMAC


async def test_a_confirming_sessions_secret_is_stored_only_as_an_hmac(
    store_config: dict[str, Any],
) -> None:
    app = create_app(store_config)
    async with app.test_app():
        users = app.extensions["quart_app.users"]
        assert isinstance(users, UserStore)
        browser = await logged_in(app, await users.create("alice", PASSWORD))
        assert await confirm_statuses(browser, "revoke-others", 1) == [403]
        # The secret: the stored session's id (its cookie), or a signed cookie's login token.
        secrets_known = {jar_cookie(browser.client), await browser.token("/sessions")}
        counters = await stored_counters(app)
    assert not {secret for secret in secrets_known if secret and secret in repr(counters)}
    [session_key] = [key for key in counters if "confirm-session:" in key]
    assert re.fullmatch(r".*confirm-session:[0-9a-f]{32}", session_key)


@pytest.mark.both_databases
async def test_random_names_from_one_address_store_no_more_rows_than_its_limit_and_end_with_it(
    app: Quart, auth: AuthActions, clock: time_machine.TimeMachineFixture,
) -> None:
    """The SQL store stays bounded: past its limit an address adds no row per typed name."""
    names = [f"random{secrets.token_hex(6)}" for _ in range(40)]
    assert await statuses(auth, [(name, WRONG) for name in names]) == [401] * 6 + [429] * 34
    assert len(await stored_counters(app)) <= 6 + 2  # the first six names and the address
    clock.shift(timedelta(seconds=900))  # every window has ended
    assert (await auth.login(f"random{secrets.token_hex(6)}", WRONG)).status_code == 401
    assert len(await stored_counters(app)) == 2  # only this attempt's name and address


# --- two instances sharing Redis ------------------------------------------------------------


@pytest.mark.server
async def test_two_instances_sharing_redis_stop_at_the_limit_in_total(tmp_path: Path) -> None:
    """Production config (real argon2 costs, two workers each) with a small account limit."""
    async with two_instances(tmp_path, {"QUART_LOGIN_THROTTLE": '{"account": [4, 900]}'}) as (
        a, b,
    ):
        await create_user(a, "alice", PASSWORD)
        answers = []
        for i in range(10):
            visitor = Visitor(a if i % 2 else b)
            response = await visitor.submit("/login", {"username": "alice", "password": WRONG})
            answers.append(response.status_code)
        final = await Visitor(a).submit("/login", {"username": "alice", "password": PASSWORD})
    assert answers == [401] * 4 + [429] * 6
    assert final.status_code == 429
    assert int(final.headers["retry-after"]) <= 900

