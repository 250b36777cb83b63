"""In CI (``FORBID_SKIPS=1``) a skipped test is a failure: CI never passes by skipping.

The skip is turned into an ordinary failed report (an error when it came from a
fixture), so the rest of the run goes on; an expected failure (``xfail``) is
reported as pytest reports it, and without ``FORBID_SKIPS`` skips stay skips.
"""

import os
from collections.abc import Generator
from typing import Final

import pytest

STRICT_SKIPS: Final = "FORBID_SKIPS"
FAILURE: Final = "skipped in CI, which forbids skips: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report a skip in setup, call or teardown as a failure while skips are forbidden."""
    report = yield
    if os.environ.get(STRICT_SKIPS) == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = FAILURE.format(reason=_reason(report))
    return report


def _reason(report: pytest.TestReport) -> str:
    """The text a skip was given (pytest keeps it as ``(path, line, "Skipped: text")``)."""
    if isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)
