"""A short load run on two instances (Redis sessions, PostgreSQL users): whose pages are served.

One run of ``USERS`` users for ``SECONDS`` is shared by the checks below (its
start-up is most of the cost); ``python -m tests.load`` is the long version.
"""

from typing import Final

import pytest
import pytest_asyncio

from .isolation import KINDS, NAME_PREFIX, Report, isolation_problem, load_test

USERS: Final = 30
SECONDS: Final = 10
PROFILES_PER_LOGIN: Final = 5
ALICE: Final = f"{NAME_PREFIX}00001"
BOB: Final = f"{NAME_PREFIX}00002"
LAYOUT: Final = "<header>Logged in as <strong>{header}</strong></header>"
PROFILE: Final = '<h1>Hello, <span class="username">{profile}</span></h1>'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One load run for the whole module."""
    return await load_test(tmp_path_factory.mktemp("load"), users=USERS, seconds=SECONDS,
                           profiles_per_login=PROFILES_PER_LOGIN)


def page(header: str = ALICE, profile: str = ALICE, extra: str = "") -> str:
    """A profile page as the templates lay it out (base.html's header, profile.html's card)."""
    return LAYOUT.format(header=header) + PROFILE.format(profile=profile) + extra


@pytest.mark.parametrize("right", [
    pytest.param(page(), id="as-written"),
    pytest.param(page(profile=ALICE.replace("-", "&#45;")), id="escaped"),
])
def test_the_checker_accepts_a_profile_naming_only_its_user(right: str) -> None:
    assert isolation_problem(right, ALICE) is None


@pytest.mark.parametrize("wrong", [
    pytest.param(page(profile=BOB), id="another-user-in-the-profile"),
    pytest.param(page(header=BOB), id="another-user-in-the-header"),
    pytest.param(page(extra=f"<p>{BOB}</p>"), id="another-user-anywhere"),
    pytest.param(page(profile=f"{ALICE}0"), id="a-longer-name"),
    pytest.param(page(profile="&lt;b&gt;" + ALICE), id="an-escaped-prefix"),
    pytest.param(page(extra=PROFILE.format(profile=ALICE)), id="named-twice"),
    pytest.param(LAYOUT.format(header=ALICE), id="no-profile-card"),
    pytest.param("<h1>Log in</h1>", id="the-login-page"),
])
def test_the_checker_refuses_a_profile_that_is_not_its_users_alone(wrong: str) -> None:
    assert isolation_problem(wrong, ALICE) is not None


@pytest.mark.server
def test_every_profile_page_under_load_names_its_own_user_and_no_other(report: Report) -> None:
    assert report.latencies["GET /profile"], "no profile page was loaded"
    assert not report.wrong_user, str(report.wrong_user)


@pytest.mark.server
def test_no_request_under_load_gets_a_server_error(report: Report) -> None:
    assert not report.server_errors, str(report.server_errors)


@pytest.mark.server
def test_no_connection_is_dropped_under_load(report: Report) -> None:
    assert not report.dropped, str(report.dropped)


@pytest.mark.server
def test_every_step_under_load_answers_as_the_readme_says(report: Report) -> None:
    assert not report.unexpected, str(report.unexpected)
    assert report.cycles > 0, "no user went once round login, profile, logout"


@pytest.mark.server
def test_sessions_under_load_cross_between_the_instances(report: Report) -> None:
    assert len(report.by_instance) == 2, f"only {list(report.by_instance)} served requests"
    assert report.crossed > 0, "no profile was served by the instance the user did not log in on"


@pytest.mark.server
def test_the_load_report_gives_counts_errors_and_percentiles_per_kind(report: Report) -> None:
    table = report.table().splitlines()
    assert "| request | count | errors | p50 ms | p90 ms | p99 ms | max ms |" in table
    assert [line.split(" | ")[0] for line in table if line.startswith("| GET /")
            or line.startswith("| POST /")] == [f"| {kind}" for kind in KINDS]
