"""Routes only: the visitor's preferences (a theme), kept in ``session``, anonymous or logged in.

The theme reaches every page through the ``theme()`` template global, which
``base.html`` turns into ``data-theme`` on ``<html>``; the stylesheet does
the rest, without JavaScript.
"""

from typing import Final

from quart import Blueprint, ResponseReturnValue, flash, redirect, request, session

from .csrf import EXPIRED, form_expired, resends_expired_form
from .templating import render

bp = Blueprint("preferences", __name__)

THEME_KEY: Final = "theme"
SYSTEM: Final = "system"
# Every theme the page offers, in its order, with the words on its radio button.
THEMES: Final = {SYSTEM: "System (as your device is set)", "light": "Light", "dark": "Dark"}
SAVED: Final = "Preferences saved."
UNKNOWN_THEME: Final = "Choose one of the themes offered: system, light or dark."


@bp.app_template_global("theme")
def current_theme() -> str:
    """This visitor's theme: one of ``THEMES``; anything else in the session counts as system."""
    chosen = session.get(THEME_KEY)
    return chosen if isinstance(chosen, str) and chosen in THEMES else SYSTEM


def render_preferences(status: int = 200, error: str | None = None,
                       chosen: str | None = None) -> ResponseReturnValue:
    """The preferences form, ``chosen`` (else the current choice) ticked."""
    page = render("preferences.html", themes=THEMES, chosen=chosen or current_theme(),
                  error=error)
    return page, status


@bp.get("/preferences")
async def preferences_form() -> ResponseReturnValue:
    """Show the choices (also for HEAD, which Quart routes here)."""
    return render_preferences()


@bp.post("/preferences")
@resends_expired_form
async def save() -> ResponseReturnValue:
    """Keep a valid choice in the session, then show the page again by a GET."""
    choice = (await request.form).get(THEME_KEY, "")
    if form_expired():
        return render_preferences(400, EXPIRED, choice if choice in THEMES else None)
    if choice not in THEMES:
        return render_preferences(400, UNKNOWN_THEME)
    session[THEME_KEY] = choice
    await flash(SAVED)
    return redirect("/preferences", 303)
