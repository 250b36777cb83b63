"""Hypothesis for the fuzzing suite: a fixed, database-less profile, and apps on each backend.

CI must pass every time, so the ``fuzz`` profile is derandomized (the same
examples on every run, derived from each test) and keeps no example database:
a run never depends on what an earlier run found. ``--hypothesis-profile
fuzz-random`` draws new examples on each run for a developer hunting bugs;
a failure it finds is printed with the ``@reproduce_failure`` line that replays it.

Every property builds what it depends on inside its example (clients,
cookies, users), so the app from the ``app`` fixture, shared by a test's
examples, carries nothing from one example into another that the property
could depend on: Hypothesis's health check against function-scoped fixtures
is turned off for that reason.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from ..conftest import on_backend

settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("fuzz-random", settings.get_profile("fuzz"), derandomize=False,
                          print_blob=True)


def pytest_configure(config: pytest.Config) -> None:
    """Load the ``fuzz`` profile unless the command line chose another one."""
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("fuzz")


@pytest.fixture
async def config(
    request: pytest.FixtureRequest, config: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """The usual test config on the backend a test names with ``indirect=True`` (else cookie)."""
    async with on_backend(getattr(request, "param", "cookie"), config) as configured:
        yield configured
