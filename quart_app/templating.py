"""Pages: a synchronous Jinja environment, its filters and globals, and ``render``.

Quart renders through an async Jinja environment and its context processors,
an await (and, for blueprints, a thread hop for Flask's synchronous default
processor) per render. Our templates do no I/O: rendering is plain CPU work,
so the pages are rendered synchronously, with Quart's own loader and globals
(``config``, ``g``, ``request``, ``session``, ``url_for``,
``get_flashed_messages``) and ours. Quart's ``render_template`` is therefore
not used, nor its template signals.

Times are shown twice: in words relative to now ("3 minutes ago", from
``ago``), then exactly, to the minute, in the visitor's time zone with its
abbreviation ("2026-11-02 10:00 CET", from ``local_time``) inside
``<time datetime=…>`` (UTC, from ``iso_time``). The zone is chosen on
``/preferences`` and kept in the session under ``ZONE_KEY``; UTC until then.
"""

import functools
import time
import zoneinfo
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeGuard

import jinja2
from quart import current_app, session
from quart.templating import Environment

from .identity import current_user
from .passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from .passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from .sessions import get_policy
from .users import USERNAME_FORM_PATTERN, USERNAME_MAX_LENGTH

if TYPE_CHECKING:
    from quart import Quart

# The session key of the visitor's time zone (an IANA name), and the zone until one is chosen.
ZONE_KEY: Final = "time_zone"
DEFAULT_ZONE: Final = "UTC"
# Units of relative times and durations, longest first.
UNITS: Final = (("day", 86400), ("hour", 3600), ("minute", 60))


class PageEnvironment(Environment):
    """Quart's Jinja environment without async mode: ``Quart.jinja_environment`` for our app."""

    def __init__(self, app: "Quart", **options: Any) -> None:
        options.setdefault("loader", app.create_global_jinja_loader())
        jinja2.Environment.__init__(self, **options)  # not Quart's: it forces enable_async

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one plain dict, copied when it is first loaded.

        Jinja keeps them as a ``ChainMap`` over the environment's, which every
        render copies key by key in Python; all our globals are set while the
        app is built, before any template loads.
        """
        return {**self.globals, **(d or {})}


def render(template: str, **context: Any) -> str:
    """Render one of our pages now, without awaiting anything (it is CPU work only)."""
    return current_app.jinja_env.get_template(template).render(context)


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted, UTC always among them.

    Listed once per process: ``zoneinfo.available_timezones()`` walks the zone files.
    """
    return tuple(sorted(zoneinfo.available_timezones() | {DEFAULT_ZONE}))


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(time_zones())


def known_zone(name: object) -> TypeGuard[str]:
    """Whether ``name`` is one of ``time_zones()`` (anything else, of any type, is not)."""
    return isinstance(name, str) and name in _known_zones()


def time_zone() -> str:
    """This visitor's zone: one of ``time_zones()``; anything else in the session counts as UTC."""
    chosen = session.get(ZONE_KEY)
    return chosen if known_zone(chosen) else DEFAULT_ZONE


def _tz(name: str) -> tzinfo:
    """The zone behind a known name; UTC needs no zone file."""
    if name == DEFAULT_ZONE:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)  # cached by zoneinfo itself
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


@functools.lru_cache(maxsize=4096)
def zoned_time(timestamp: int, zone: str = DEFAULT_ZONE) -> str:
    """An epoch time to the minute in ``zone``, with the zone's abbreviation: "2026-11-02 10:00
    CET"; a zone whose abbreviation is an offset reads "UTC-03" (remembered: a session's times
    repeat on every page it sees)."""
    moment = datetime.fromtimestamp(timestamp, _tz(zone))
    abbreviation = moment.strftime("%Z")
    if abbreviation.startswith(("+", "-")):
        abbreviation = f"UTC{abbreviation}"
    return f"{moment:%Y-%m-%d %H:%M} {abbreviation}"


def utc_time(timestamp: int) -> str:
    """An epoch time in UTC, to the minute (the CLI's listing)."""
    return zoned_time(timestamp)


def local_time(timestamp: int) -> str:
    """An epoch time in this visitor's zone (see ``zoned_time``)."""
    return zoned_time(timestamp, time_zone())


@functools.lru_cache(maxsize=4096)
def iso_time(timestamp: int) -> str:
    """Machine-readable time for ``<time datetime=…>``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def ago(timestamp: int) -> str:
    """How long ago a past epoch time was, in words, by the time elapsed (not by the calendar,
    so it reads the same in every zone): under a minute (or a clock a little ahead) is "just
    now", then whole minutes, hours, days, rounded down: "1 minute ago", "59 minutes ago",
    "1 hour ago", "1 day ago", "2 days ago". Not cached: it depends on now."""
    elapsed = int(time.time() - timestamp)
    for unit, seconds in UNITS:
        if elapsed >= seconds:
            return f"{_count(elapsed // seconds, unit)} ago"
    return "just now"


@functools.lru_cache(maxsize=64)
def in_words(length: timedelta) -> str:
    """A configured duration in the largest unit that divides it: "30 minutes", "7 days"."""
    seconds = int(length.total_seconds())
    for unit, size in UNITS:
        if seconds >= size and seconds % size == 0:
            return _count(seconds // size, unit)
    return _count(seconds, "second")


class SessionEnd(NamedTuple):
    """When a session ends, as the pages word it: the rule that slides, or the fixed limit."""

    window: str  # without activity for this long (the idle timeout, or remember me's lifetime)
    fixed: bool  # the login's absolute limit comes first: activity no longer moves the end
    limit: str  # how long any login lasts at most, however active
    deadline: int  # when this login reaches that limit


def session_end(started: int, expires_at: int, remembered: bool) -> SessionEnd:
    """The end of a session that started at ``started`` and that the server, without more
    activity, stops accepting at ``expires_at``, under this app's limits."""
    policy = get_policy()
    window = policy.permanent_lifetime if remembered else policy.idle_timeout
    deadline = started + int(policy.absolute_timeout.total_seconds())
    return SessionEnd(in_words(window), expires_at >= deadline,
                      in_words(policy.absolute_timeout), deadline)


def init_app(app: "Quart") -> None:
    """Register the filters; give every template ``current_user()``, ``session_end()``, the
    stylesheet's URL and the input ``limits`` the server enforces, so a form's attributes never
    disagree."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.globals["current_user"] = current_user
    app.jinja_env.globals["session_end"] = session_end
    app.jinja_env.globals["stylesheet"] = f"{app.static_url_path}/style.css"
    app.jinja_env.globals["limits"] = {
        "username_max": USERNAME_MAX_LENGTH, "username_pattern": USERNAME_FORM_PATTERN,
        "password_min": PASSWORD_MIN_LENGTH, "password_max": PASSWORD_MAX_LENGTH,
    }
