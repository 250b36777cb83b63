"""Fixtures of the fault tests: a live app whose Redis or PostgreSQL the test takes down."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ..services import initdb, postgres_data_directory
from .helpers import ServiceOutage, postgres_outage, redis_outage

type ClusterData = tuple[Path, str | None]


@pytest.fixture(scope="session")
def postgres_cluster_data() -> Iterator[ClusterData]:
    """One ``initdb`` for the whole run (it takes seconds); each test starts it on its port."""
    with postgres_data_directory() as (data, user):
        initdb(data, user)
        yield data, user


@pytest.fixture
async def redis_down_and_up(tmp_path: Path) -> AsyncIterator[ServiceOutage]:
    """The app, and its private Redis to kill and restart."""
    async with redis_outage(tmp_path) as outage:
        yield outage


@pytest.fixture
async def postgres_down_and_up(
    tmp_path: Path, postgres_cluster_data: ClusterData,
) -> AsyncIterator[ServiceOutage]:
    """The app, and its private PostgreSQL to stop and start."""
    async with postgres_outage(tmp_path, *postgres_cluster_data) as outage:
        yield outage


@pytest.fixture(params=["redis", "postgresql"])
async def service_down_and_up(
    request: pytest.FixtureRequest, tmp_path: Path,
) -> AsyncIterator[ServiceOutage]:
    """Each in turn: the app with its Redis, then with its PostgreSQL, to take down."""
    if request.param == "redis":
        async with redis_outage(tmp_path) as outage:
            yield outage
        return
    data, user = request.getfixturevalue("postgres_cluster_data")
    async with postgres_outage(tmp_path, data, user) as outage:
        yield outage
