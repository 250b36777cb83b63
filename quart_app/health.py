"""``/healthz``: one JSON answer a load balancer can act on.

The endpoint needs no login, so it must not become a lever: were every
request to run its own database check, a burst of them would queue behind
each other and the pool, time out, and report a healthy instance as down.
Instead one check runs at a time (single flight) and its answer is shared
by every request for ``FRESH_FOR`` seconds; a real outage still shows
within ``FRESH_FOR + CHECK_TIMEOUT`` seconds.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from quart import Blueprint, Quart, ResponseReturnValue, current_app

from .sessions import get_backend
from .throttle import get_throttle
from .users import get_store

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CHECK_TIMEOUT: Final = 2.0
FRESH_FOR: Final = 1.0
EXTENSION_KEY: Final = "quart_app.health"

type Probe = Callable[[], Awaitable[None]]


class HealthCheck:
    """Probes of each dependency, run one round at a time, the last round kept briefly."""

    def __init__(self, probes: Mapping[str, Probe]) -> None:
        self.probes = probes
        self._last: tuple[float, dict[str, str]] | None = None
        self._running: asyncio.Task[dict[str, str]] | None = None

    async def states(self) -> dict[str, str]:
        """"ok" or "down" per dependency, from a fresh round or the one in flight."""
        if self._last is not None and 0 <= time.time() - self._last[0] < FRESH_FOR:
            return self._last[1]
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._round())
        return await asyncio.shield(self._running)

    async def _round(self) -> dict[str, str]:
        states = {"app": "ok"}
        for name, probe in self.probes.items():
            states[name] = await _probe(name, probe)
        self._last = (time.time(), states)
        return states


async def _probe(name: str, probe: Probe) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe()
    except Exception as error:  # any failure of a dependency means "down", never a 500
        log.error("health check: %s down: %s", name, type(error).__name__)
        return "down"
    return "ok"


def init_app(app: Quart) -> None:
    """Register the endpoint with this app's probes."""
    app.extensions[EXTENSION_KEY] = HealthCheck({
        "database": lambda: get_store().ping(),
        "sessions": lambda: get_backend().ping(),
        "throttle": lambda: get_throttle().store.ping(),
    })
    app.register_blueprint(bp)


@bp.get("/healthz")
async def healthz() -> ResponseReturnValue:
    """200 when every dependency answers in time, else 503 naming what is down."""
    check: HealthCheck = current_app.extensions[EXTENSION_KEY]
    states = await check.states()
    healthy = all(state == "ok" for state in states.values())
    return {"status": "ok" if healthy else "unavailable", "checks": states}, (
        200 if healthy else 503
    )
