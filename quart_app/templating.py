"""Pages: a synchronous Jinja environment, its filters and globals, and ``render``.

Quart renders through an async Jinja environment and its context processors,
an await (and, for blueprints, a thread hop for Flask's synchronous default
processor) per render. Our templates do no I/O: rendering is plain CPU work,
so the pages are rendered synchronously, with Quart's own loader and globals
(``config``, ``g``, ``request``, ``session``, ``url_for``,
``get_flashed_messages``) and ours. Quart's ``render_template`` is therefore
not used, nor its template signals.
"""

import functools
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jinja2
from quart import current_app
from quart.templating import Environment

from .identity import current_user
from .passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from .passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from .users import USERNAME_FORM_PATTERN, USERNAME_MAX_LENGTH

if TYPE_CHECKING:
    from quart import Quart


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


@functools.lru_cache(maxsize=4096)
def utc_time(timestamp: int) -> str:
    """Show an epoch time the same way everywhere, in UTC, to the minute (remembered: a
    session's times repeat on every page it sees)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@functools.lru_cache(maxsize=4096)
def iso_time(timestamp: int) -> str:
    """Machine-readable time for ``<time datetime=…>``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def init_app(app: "Quart") -> None:
    """Register the filters; give every template ``current_user()``, the stylesheet's URL
    and the input ``limits`` the server enforces, so a form's attributes never disagree."""
    app.jinja_env.filters["utc_time"] = utc_time
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.globals["current_user"] = current_user
    app.jinja_env.globals["stylesheet"] = f"{app.static_url_path}/style.css"
    app.jinja_env.globals["limits"] = {
        "username_max": USERNAME_MAX_LENGTH, "username_pattern": USERNAME_FORM_PATTERN,
        "password_min": PASSWORD_MIN_LENGTH, "password_max": PASSWORD_MAX_LENGTH,
    }
