"""Template helpers shared by every page."""

from datetime import UTC, datetime

from quart import Quart

from .identity import current_user


def utc_time(timestamp: int) -> str:
    """Show an epoch time the same way everywhere, in UTC, to the minute."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(timestamp: int) -> str:
    """Machine-readable time for ``<time datetime=…>``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def init_app(app: Quart) -> None:
    """Register the filters and give every template ``current_user()``."""
    app.jinja_env.filters["utc_time"] = utc_time
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.globals["current_user"] = current_user
