"""Times as the pages show them: relative words, then the exact minute in the visitor's zone;
and a session's end worded by the rule that slides (the app's limits), not as a deadline."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from quart import Quart, session
from quart.typing import TestClientProtocol as Client

from quart_app.templating import ZONE_KEY, ago, in_words, time_zone, time_zones, zoned_time
from quart_app.users import User

from .conftest import START, AuthActions

TAG = re.compile(r"<[^>]+>")
SESSION_ENDS = re.compile(r"<dt>Session ends</dt>\s*<dd[^>]*>(.*?)</dd>", re.DOTALL)
LOGGED_IN = re.compile(r"<dt>Logged in</dt>\s*<dd>(.*?)</dd>", re.DOTALL)


@pytest.mark.parametrize(
    ("elapsed", "words"),
    [(0, "just now"), (59, "just now"), (-30, "just now"),  # a clock a little ahead
     (60, "1 minute ago"), (119, "1 minute ago"), (120, "2 minutes ago"),
     (3599, "59 minutes ago"), (3600, "1 hour ago"), (7199, "1 hour ago"),
     (7200, "2 hours ago"), (86399, "23 hours ago"), (86400, "1 day ago"),
     (172799, "1 day ago"), (172800, "2 days ago"), (30 * 86400, "30 days ago")],
)
def test_a_past_time_reads_relative_to_now_rounded_down(
    clock: time_machine.TimeMachineFixture, elapsed: int, words: str,
) -> None:
    assert ago(int(START.timestamp()) - elapsed) == words


def test_relative_words_follow_the_clock_not_a_cache(
    clock: time_machine.TimeMachineFixture,
) -> None:
    then = int(START.timestamp())
    assert ago(then) == "just now"
    clock.shift(timedelta(minutes=3))
    assert ago(then) == "3 minutes ago"


@pytest.mark.parametrize(
    ("zone", "moment", "shown"),
    [("UTC", datetime.fromisoformat("2026-11-02T09:00Z"), "2026-11-02 09:00 UTC"),
     ("Europe/Berlin", datetime.fromisoformat("2026-11-02T09:00Z"), "2026-11-02 10:00 CET"),
     ("Europe/Berlin", datetime.fromisoformat("2026-07-01T09:00Z"), "2026-07-01 11:00 CEST"),
     ("America/New_York", datetime.fromisoformat("2026-11-02T03:30Z"), "2026-11-01 22:30 EST"),
     ("Asia/Kolkata", datetime.fromisoformat("2026-11-02T09:00Z"), "2026-11-02 14:30 IST"),
     ("America/Sao_Paulo", datetime.fromisoformat("2026-11-02T09:00Z"),
      "2026-11-02 06:00 UTC-03")],
    ids=["utc", "berlin-winter", "berlin-summer", "new-york-day-before", "kolkata",
         "sao-paulo-offset-only"],
)
def test_an_exact_time_is_shown_in_a_zone_with_its_abbreviation(
    zone: str, moment: datetime, shown: str,
) -> None:
    assert zoned_time(int(moment.timestamp()), zone) == shown


def test_the_zones_offered_are_the_iana_names_sorted_utc_among_them() -> None:
    zones = time_zones()
    assert list(zones) == sorted(zones)
    assert {"UTC", "Europe/Berlin", "America/Sao_Paulo"} <= set(zones)


@pytest.mark.parametrize("stored", ["Mars/Olympus_Mons", "", "europe/berlin", "../etc/passwd",
                                    1, None, ["Europe/Berlin"], {"Europe/Berlin": True}])
async def test_a_bad_zone_in_the_session_counts_as_utc(app: Quart, stored: object) -> None:
    async with app.test_request_context("/profile"):
        session[ZONE_KEY] = stored
        assert time_zone() == "UTC"


@pytest.mark.parametrize(
    ("length", "words"),
    [(timedelta(minutes=30), "30 minutes"), (timedelta(days=7), "7 days"),
     (timedelta(hours=1), "1 hour"), (timedelta(minutes=90), "90 minutes"),
     (timedelta(days=1), "1 day"), (timedelta(seconds=45), "45 seconds")],
)
def test_a_configured_duration_reads_in_its_largest_whole_unit(
    length: timedelta, words: str,
) -> None:
    assert in_words(length) == words


# --- the profile ----------------------------------------------------------------------------


async def profile(client: Client) -> str:
    response = await client.get("/profile")
    assert response.status_code == 200
    return await response.get_data(as_text=True)


def fact(page: str, pattern: re.Pattern[str]) -> str:
    """A fact of the profile in words, its markup removed and its spacing made single."""
    match = pattern.search(page)
    assert match, f"no {pattern.pattern!r} on the page"
    return " ".join(TAG.sub("", match[1]).split())


async def test_the_profile_says_how_long_ago_the_login_was_and_when_exactly(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
) -> None:
    await auth.login()  # at START, 09:00 UTC
    clock.shift(timedelta(minutes=5))
    assert fact(await profile(auth.client), LOGGED_IN) == "5 minutes ago (2026-11-02 09:00 UTC)"


@pytest.mark.parametrize(
    ("remember", "words"),
    [pytest.param(False, "after 30 minutes without activity, or when you close the browser: "
                         "at 2026-11-02 09:35 UTC if you do nothing before then.", id="idle"),
     pytest.param(True, "after 7 days without a visit (remembered on this device): at "
                        "2026-11-09 09:05 UTC unless you come back before then, and at "
                        "2026-12-02 09:00 UTC at the latest.", id="remembered")],
)
async def test_the_profile_words_the_sessions_end_as_a_rule_that_slides(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
    remember: bool, words: str,
) -> None:
    await auth.login(remember=remember)
    clock.shift(timedelta(minutes=5))  # the visit is activity: the end moves with it
    assert fact(await profile(auth.client), SESSION_ENDS) == words


@pytest.mark.config(SESSION_IDLE_TIMEOUT=timedelta(minutes=10),
                    PERMANENT_SESSION_LIFETIME=timedelta(days=2))
@pytest.mark.parametrize(("remember", "rule"), [(False, "after 10 minutes without activity"),
                                                (True, "after 2 days without a visit")])
async def test_the_profile_takes_the_rule_from_the_apps_settings(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
    remember: bool, rule: str,
) -> None:
    await auth.login(remember=remember)
    assert fact(await profile(auth.client), SESSION_ENDS).startswith(rule)


async def test_near_the_30_day_limit_the_profile_gives_that_fixed_end(
    auth: AuthActions, user: User, clock: time_machine.TimeMachineFixture,
) -> None:
    await auth.login(remember=True)
    for _ in range(4):  # a visit every 6 days keeps it alive, until day 24: 7 more pass 30
        clock.shift(timedelta(days=6))
        await profile(auth.client)
    assert fact(await profile(auth.client), SESSION_ENDS) == (
        "at 2026-12-02 09:00 UTC at the latest: a login lasts 30 days at most "
        "(remembered on this device until then).")
