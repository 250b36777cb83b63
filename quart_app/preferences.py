"""Routes only: the visitor's preferences (a theme, a time zone), kept in ``session``,
anonymous or logged in.

The theme reaches every page through the ``theme()`` template global, which
``base.html`` turns into ``data-theme`` on ``<html>``; the stylesheet does
the rest, without JavaScript. The time zone (an IANA name, UTC until chosen)
is read by the time filters in ``templating``, so every page's times are in it.
Both are saved by the one form; a form without the zone field (from a page
older than it) leaves the zone as it was.
"""

from typing import Final

from quart import Blueprint, ResponseReturnValue, flash, redirect, request, session

from .csrf import EXPIRED, form_expired, resends_expired_form
from .templating import ZONE_KEY, known_zone, render, time_zone, time_zones

bp = Blueprint("preferences", __name__)

THEME_KEY: Final = "theme"
SYSTEM: Final = "system"
# Every theme the page offers, in its order, with the words on its radio button.
THEMES: Final = {SYSTEM: "System (as your device is set)", "light": "Light", "dark": "Dark"}
SAVED: Final = "Preferences saved."
UNKNOWN_THEME: Final = "Choose one of the themes offered: system, light or dark."
UNKNOWN_ZONE: Final = "Choose a time zone from the list, such as Europe/Berlin or UTC."


@bp.app_template_global("theme")
def current_theme() -> str:
    """This visitor's theme: one of ``THEMES``; anything else in the session counts as system."""
    chosen = session.get(THEME_KEY)
    return chosen if isinstance(chosen, str) and chosen in THEMES else SYSTEM


def render_preferences(status: int = 200, error: str | None = None, *,
                       theme_error: str | None = None, zone_error: str | None = None,
                       chosen: str | None = None,
                       chosen_zone: str | None = None) -> ResponseReturnValue:
    """The preferences form, ``chosen`` and ``chosen_zone`` (else the current ones) selected;
    ``error`` is about the whole form, the others about their field."""
    page = render("preferences.html", themes=THEMES, chosen=chosen or current_theme(),
                  zones=time_zones(), chosen_zone=chosen_zone or time_zone(),
                  error=error, theme_error=theme_error, zone_error=zone_error)
    return page, status


@bp.get("/preferences")
async def preferences_form() -> ResponseReturnValue:
    """Show the choices (also for HEAD, which Quart routes here)."""
    return render_preferences()


@bp.post("/preferences")
@resends_expired_form
async def save() -> ResponseReturnValue:
    """Keep valid choices in the session, then show the page again by a GET; nothing is kept
    unless both are valid."""
    form = await request.form
    choice = form.get(THEME_KEY, "")
    zone = form.get(ZONE_KEY)
    kept_theme = choice if choice in THEMES else None
    kept_zone = zone if known_zone(zone) else None
    if form_expired():
        return render_preferences(400, EXPIRED, chosen=kept_theme, chosen_zone=kept_zone)
    bad_zone = zone is not None and kept_zone is None  # a form without the field keeps it
    if kept_theme is None or bad_zone:
        return render_preferences(
            400, theme_error=None if kept_theme else UNKNOWN_THEME,
            zone_error=UNKNOWN_ZONE if bad_zone else None,
            chosen=kept_theme, chosen_zone=kept_zone)
    session[THEME_KEY] = choice
    if kept_zone is not None:
        session[ZONE_KEY] = kept_zone
    await flash(SAVED)
    return redirect("/preferences", 303)
