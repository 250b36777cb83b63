"""Server-enforced lifetimes, tested by moving the clock (time-machine), never by waiting.

Each test logs in at ``START`` and then replays a cookie at a later time: the
server must accept or refuse it on its own clock, whatever the cookie says.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from quart import Quart
from quart.sessions import SecureCookieSession

from quart_app.sessions.policy import SessionPolicy, Verdict
from quart_app.users import User

from ..conftest import (
    SECRET_KEY,
    START,
    AuthActions,
    cookie_attributes,
    jar_cookie,
    replay,
    set_cookie_headers,
)
from .test_cookie import forge

SECOND = timedelta(seconds=1)
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(days=7)
ABSOLUTE = timedelta(days=30)


async def login_cookie(auth: AuthActions, *, remember: bool) -> str:
    """Log in at the current (frozen) time and return the cookie as the browser got it."""
    await auth.login(remember=remember)
    cookie = jar_cookie(auth.client)
    assert cookie is not None
    return cookie


async def profile_status(app: Quart, cookie: str) -> int:
    """Replay a cookie unchanged against /profile."""
    return (await replay(app, cookie).get("/profile")).status_code


@pytest.mark.parametrize(
    ("remember", "elapsed", "status"),
    [
        pytest.param(True, LIFETIME - SECOND, 200, id="remembered-just-before-lifetime"),
        pytest.param(True, LIFETIME + SECOND, 302, id="remembered-just-after-lifetime"),
        pytest.param(False, IDLE - SECOND, 200, id="browser-session-just-before-idle"),
        pytest.param(False, IDLE + SECOND, 302, id="browser-session-just-after-idle"),
    ],
)
async def test_unchanged_cookie_is_judged_by_the_server_clock(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
    remember: bool, elapsed: timedelta, status: int,
) -> None:
    cookie = await login_cookie(auth, remember=remember)
    clock.shift(elapsed)
    assert await profile_status(app, cookie) == status


async def test_refused_session_cookie_is_deleted_where_nothing_is_said(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    cookie = await login_cookie(auth, remember=False)
    clock.shift(IDLE + SECOND)
    [header] = set_cookie_headers(await replay(app, cookie).get("/static/style.css"))
    assert cookie_attributes(header)["max-age"] == "0"


async def test_refused_session_cookie_is_replaced_by_one_without_the_login(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    cookie = await login_cookie(auth, remember=False)
    clock.shift(IDLE + SECOND)
    [header] = set_cookie_headers(await replay(app, cookie).get("/profile"))
    replaced = cookie_attributes(header)["value"]
    assert replaced not in ("", cookie)
    assert await profile_status(app, replaced) == 302


async def test_activity_slides_the_idle_timeout(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    await login_cookie(auth, remember=False)
    clock.shift(IDLE - timedelta(minutes=5))
    assert (await auth.client.get("/profile")).status_code == 200
    clock.shift(IDLE - timedelta(minutes=5))
    assert (await auth.client.get("/profile")).status_code == 200


async def test_activity_slides_the_remember_me_lifetime_and_the_cookie(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    await login_cookie(auth, remember=True)
    clock.shift(timedelta(days=6))
    [header] = set_cookie_headers(await auth.client.get("/profile"))
    expires = datetime.strptime(cookie_attributes(header)["expires"], "%a, %d %b %Y %H:%M:%S GMT")
    assert expires.replace(tzinfo=UTC) == START + timedelta(days=6) + LIFETIME
    clock.shift(timedelta(days=6))
    assert (await auth.client.get("/profile")).status_code == 200


async def test_absolute_timeout_ends_even_an_active_session(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    await login_cookie(auth, remember=True)
    for _ in range(4):
        clock.shift(timedelta(days=6))
        assert (await auth.client.get("/profile")).status_code == 200
    latest = jar_cookie(auth.client)
    assert latest is not None
    clock.move_to(START + ABSOLUTE - SECOND)
    assert await profile_status(app, latest) == 200
    clock.move_to(START + ABSOLUTE + SECOND)
    assert await profile_status(app, latest) == 302


@pytest.mark.config(SESSION_IDLE_TIMEOUT=60 * 5, PERMANENT_SESSION_LIFETIME=3600,
                    SESSION_ABSOLUTE_TIMEOUT=7200)
async def test_limits_follow_the_configuration(
    app: Quart, auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    short = await login_cookie(auth, remember=False)
    clock.shift(timedelta(minutes=5) + SECOND)
    assert await profile_status(app, short) == 302


# --- the policy on its own ---------------------------------------------------------------

POLICY = SessionPolicy(idle_timeout=IDLE, absolute_timeout=ABSOLUTE, permanent_lifetime=LIFETIME)


def started(*, remember: bool) -> SecureCookieSession:
    session = SecureCookieSession()
    POLICY.start(session, 7, "alice", 1, remember=remember)
    return session


def test_empty_session_is_anonymous() -> None:
    assert POLICY.check(SecureCookieSession()) is Verdict.ANONYMOUS


@pytest.mark.parametrize("key", ["_user_id", "_started", "_seen", "_version", "_username"])
def test_session_missing_a_field_is_malformed(key: str) -> None:
    session = started(remember=False)
    del session[key]
    assert POLICY.check(session) is Verdict.MALFORMED


START_S = int(START.timestamp())
OUT_OF_RANGE = [
    ("_user_id", 10**30), ("_user_id", 2**31), ("_user_id", 0), ("_user_id", -1),
    ("_user_id", True), ("_user_id", "7"), ("_user_id", 7.0), ("_user_id", None),
    ("_version", 10**30), ("_version", 0), ("_version", True), ("_version", "1"),
    ("_username", 5), ("_username", ""), ("_username", "x" * 65), ("_username", None),
    ("_started", START_S + 61), ("_started", 10**30), ("_started", -5), ("_started", "soon"),
    ("_started", 1.5),
    ("_seen", START_S + 61), ("_seen", START_S - 1), ("_seen", None), ("_seen", [1]),
    ("_seen", True), ("_csrf", 12), ("_permanent", "yes"),
]


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE)
def test_session_with_a_field_of_wrong_type_or_range_is_malformed(
    clock: time_machine.TimeMachineFixture, key: str, value: object
) -> None:
    session = started(remember=False)
    session[key] = value
    assert POLICY.check(session) is Verdict.MALFORMED


def test_a_clock_a_minute_behind_still_accepts_a_new_session(
    clock: time_machine.TimeMachineFixture,
) -> None:
    session = started(remember=False)
    clock.shift(-timedelta(seconds=60))
    assert POLICY.check(session) is Verdict.VALID


def signed_session(user: User, **changes: object) -> str:
    """A cookie signed with the app's key for a real login of ``user``, fields changed."""
    session = SecureCookieSession()
    POLICY.start(session, user.id, user.username, user.session_version, remember=False)
    session.update(changes)
    return forge(SECRET_KEY, dict(session))


async def test_validly_signed_well_formed_cookie_is_a_login(
    app: Quart, user: User, clock: time_machine.TimeMachineFixture
) -> None:
    assert (await replay(app, signed_session(user)).get("/profile")).status_code == 200


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE)
async def test_validly_signed_cookie_with_bad_values_is_anonymous_and_deleted(
    app: Quart, user: User, clock: time_machine.TimeMachineFixture, key: str, value: object
) -> None:
    response = await replay(app, signed_session(user, **{key: value})).get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["max-age"] == "0"


def test_expiry_is_the_idle_limit_for_a_browser_session(
    clock: time_machine.TimeMachineFixture,
) -> None:
    assert POLICY.expires_at(started(remember=False)) == int((START + IDLE).timestamp())


def test_expiry_is_capped_by_the_absolute_limit(clock: time_machine.TimeMachineFixture) -> None:
    session = started(remember=True)
    clock.shift(ABSOLUTE - timedelta(days=1))
    session["_seen"] = int((START + ABSOLUTE - timedelta(days=1)).timestamp())
    assert POLICY.expires_at(session) == int((START + ABSOLUTE).timestamp())


def test_touch_writes_activity_at_most_once_a_minute(
    clock: time_machine.TimeMachineFixture,
) -> None:
    session = started(remember=False)
    session.modified = False
    clock.shift(timedelta(seconds=59))
    POLICY.touch(session)
    assert not session.modified
    clock.shift(SECOND)
    POLICY.touch(session)
    assert session.modified


def test_signatures_are_read_for_the_longest_sliding_window_plus_a_minute() -> None:
    assert POLICY.signature_max_age() == int(LIFETIME.total_seconds()) + 60
