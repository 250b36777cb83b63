"""``FORBID_SKIPS=1`` (CI) turns every skip into a failure without stopping the run.

Each test runs a small suite of its own through pytest's ``pytester``: a skip in
a test, a skip in a fixture, a pass and a strict expected failure.
"""

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest

@pytest.fixture
def service():
    pytest.skip("the service is not running")

def test_skips_in_its_body():
    pytest.skip("chromium is missing")

def test_skips_in_a_fixture(service):
    pass

def test_passes():
    pass

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_is_an_expected_failure():
    assert False
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the small suite and this project's plugin, as conftest loads it."""
    pytester.makeconftest('pytest_plugins = ["tests.forbid_skips"]')
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def run(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
        forbid: str | None) -> pytest.RunResult:
    """Run the suite with ``FORBID_SKIPS`` set to ``forbid`` (None: unset)."""
    if forbid is None:
        monkeypatch.delenv("FORBID_SKIPS", raising=False)
    else:
        monkeypatch.setenv("FORBID_SKIPS", forbid)
    return suite.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-rA")


def test_this_projects_conftest_loads_the_plugin(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("tests.forbid_skips")


def test_forbidden_skips_fail_and_the_run_goes_on(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(suite, monkeypatch, "1")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1, errors=1, passed=1, xfailed=1)


@pytest.mark.parametrize("reason", ["chromium is missing", "the service is not running"])
def test_a_forbidden_skip_reports_its_reason(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    result = run(suite, monkeypatch, "1")
    result.stdout.fnmatch_lines([f"*skipped in CI, which forbids skips: {reason}*"])


@pytest.mark.parametrize("forbid", [None, "0", ""], ids=["unset", "zero", "empty"])
def test_skips_stay_skips_unless_forbidden(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, forbid: str | None
) -> None:
    result = run(suite, monkeypatch, forbid)
    result.assert_outcomes(skipped=2, passed=1, xfailed=1)
