"""The visitor's preferences, chosen on /preferences and kept in the session: a theme, shown
as ``data-theme``, and a time zone, in which every page shows its times."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from quart import Quart, session
from quart.typing import TestClientProtocol as Client

from quart_app.preferences import SAVED, UNKNOWN_THEME, UNKNOWN_ZONE, current_theme
from quart_app.templating import render, time_zones
from quart_app.users import User

from .conftest import AuthActions, config_on_backends, csrf_from, log_in

HTML_TAG = re.compile(r"<html[^>]*>")
CHECKED = re.compile(r'<input type="radio" name="theme" value="(\w+)"\s+checked>')
OPTION = re.compile(r"<option( selected)?>([^<]+)</option>")
LOGGED_IN_AT = re.compile(r'<time [^>]*id="logged-in-at"[^>]*>([^<]*)</time>')
# A clock pinned far from the present: Redis would expire the session by its own clock.
on_cookies = pytest.mark.parametrize("config", ["cookie"], indirect=True)


config = config_on_backends("cookie", "redis")


@pytest.fixture
def present(time_machine: time_machine.TimeMachineFixture) -> datetime:
    """A stopped clock at the real present's minute (Redis expires keys by its own clock)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    time_machine.move_to(start, tick=False)
    return start


async def login_time_shown(client: Client) -> str:
    """The exact login time on the profile."""
    match = LOGGED_IN_AT.search(await text(client, "/profile"))
    assert match, "the profile shows no login time"
    return match[1]


async def text(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200
    return await response.get_data(as_text=True)


def html_tag(page: str) -> str:
    """The page's ``<html …>`` start tag, where the theme is applied."""
    match = HTML_TAG.search(page)
    assert match, "page has no <html> tag"
    return match[0]


def start_tag(page: str, pattern: str) -> str:
    """The first start tag on the page matching ``pattern`` (a regex of its start)."""
    match = re.search(pattern + r"[^>]*>", page)
    assert match, f"page has no {pattern}"
    return match[0]


def selected_zones(page: str) -> list[str]:
    return [zone for selected, zone in OPTION.findall(page) if selected]


async def choose(client: Client, theme: str, token: str | None = None, *,
                 zone: str | None = None) -> Any:
    """Tick a theme (and pick a zone: ``None`` sends no zone field) on /preferences, Save."""
    if token is None:
        token = csrf_from(await text(client, "/preferences"))
    form = {"theme": theme, "csrf_token": token}
    if zone is not None:
        form["time_zone"] = zone
    return await client.post("/preferences", form=form)


async def test_the_page_offers_three_themes_in_a_fieldset_system_ticked(client: Client) -> None:
    page = await text(client, "/preferences")
    assert re.search(r"<fieldset[^>]*>\s*<legend>Theme</legend>", page)
    assert re.findall(r'type="radio" name="theme" value="(\w+)"', page) == [
        "system", "light", "dark"]
    assert CHECKED.findall(page) == ["system"]
    assert re.search(r'<button type="submit">Save</button>', page)
    assert csrf_from(page)
    assert "data-theme" not in html_tag(page)


async def test_every_page_links_to_the_preferences_logged_in_or_not(
    app: Quart, client: Client, user: User
) -> None:
    assert 'href="/preferences"' in await text(client, "/login")
    await log_in(app, client, user)
    assert 'href="/preferences"' in await text(client, "/profile")


async def test_the_page_is_not_cached(client: Client) -> None:
    response = await client.get("/preferences")
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_anonymous_visitor_chooses_dark_and_every_page_is_dark(client: Client) -> None:
    response = await choose(client, "dark")
    assert response.status_code == 303
    assert response.headers["Location"] == "/preferences"
    page = await text(client, "/preferences")
    assert html_tag(page) == '<html lang="en" data-theme="dark">'
    assert CHECKED.findall(page) == ["dark"]
    assert SAVED in page
    assert 'data-theme="dark"' in html_tag(await text(client, "/login"))


async def test_a_logged_in_user_chooses_light(app: Quart, client: Client, user: User) -> None:
    await log_in(app, client, user)
    assert (await choose(client, "light")).status_code == 303
    page = await text(client, "/preferences")
    assert html_tag(page) == '<html lang="en" data-theme="light">'
    assert CHECKED.findall(page) == ["light"]
    assert 'data-theme="light"' in html_tag(await text(client, "/profile"))


async def test_choosing_system_again_removes_the_attribute(client: Client) -> None:
    await choose(client, "dark")
    assert 'data-theme="dark"' in html_tag(await text(client, "/preferences"))
    assert (await choose(client, "system")).status_code == 303
    page = await text(client, "/preferences")
    assert html_tag(page) == '<html lang="en">'
    assert CHECKED.findall(page) == ["system"]


@pytest.mark.parametrize("form", [{"theme": "purple"}, {"theme": ""}, {"theme": "Dark"},
                                  {"theme": "dark "}, {}],
                         ids=["unknown", "empty", "capitalised", "spaced", "missing"])
async def test_anything_but_an_offered_theme_is_a_400_that_says_so(
    client: Client, form: dict[str, str]
) -> None:
    token = csrf_from(await text(client, "/preferences"))
    response = await client.post("/preferences", form={**form, "csrf_token": token})
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert '<p class="error" role="alert" id="theme-error">' + UNKNOWN_THEME in page
    assert "data-theme" not in html_tag(page)
    assert "data-theme" not in html_tag(await text(client, "/preferences"))


async def test_a_refused_choice_keeps_the_theme_already_chosen(
    app: Quart, client: Client, user: User
) -> None:
    await log_in(app, client, user)
    await choose(client, "dark")
    assert (await choose(client, "neon")).status_code == 400
    assert 'data-theme="dark"' in html_tag(await text(client, "/preferences"))


@pytest.mark.parametrize("token", [None, "forged"], ids=["no-token", "wrong-token"])
async def test_saving_needs_the_csrf_token(
    app: Quart, client: Client, user: User, token: str | None
) -> None:
    await log_in(app, client, user)
    form = {"theme": "dark"} if token is None else {"theme": "dark", "csrf_token": token}
    response = await client.post("/preferences", form=form)
    assert response.status_code == 403
    assert "data-theme" not in html_tag(await text(client, "/preferences"))


async def test_an_anonymous_save_needs_the_csrf_token_too(client: Client) -> None:
    await text(client, "/preferences")  # the anonymous token's cookie is set
    response = await client.post("/preferences", form={"theme": "dark", "csrf_token": "forged"})
    assert response.status_code == 403


async def test_a_cross_site_save_is_refused(client: Client) -> None:
    token = csrf_from(await text(client, "/preferences"))
    response = await client.post("/preferences", form={"theme": "dark", "csrf_token": token},
                                 headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


async def test_the_theme_chosen_before_login_survives_the_login_form(
    auth: AuthActions, user: User
) -> None:
    await choose(auth.client, "dark")
    response = await auth.login()
    assert response.status_code == 303
    profile = await text(auth.client, "/profile")
    assert "Hello, <span" in profile
    assert 'data-theme="dark"' in html_tag(profile)


@pytest.mark.parametrize("stored", ["purple", "", 1, None, ["dark"], {"dark": True}])
async def test_a_bad_value_in_the_session_counts_as_system(app: Quart, stored: object) -> None:
    async with app.test_request_context("/preferences"):
        session["theme"] = stored
        assert current_theme() == "system"
        assert html_tag(render("preferences.html", themes={}, chosen="system",
                               error=None)) == '<html lang="en">'


async def test_a_refused_theme_marks_its_radio_group_invalid_and_focuses_it(
    client: Client,
) -> None:
    response = await choose(client, "purple")
    page = await response.get_data(as_text=True)
    fieldset = start_tag(page, r'<fieldset class="choices"')
    assert 'role="radiogroup"' in fieldset
    assert 'aria-invalid="true"' in fieldset
    assert 'aria-describedby="theme-error"' in fieldset
    assert "autofocus" in start_tag(page, r'<input type="radio" name="theme" value="system"')
    assert "aria-invalid" not in start_tag(page, "<select")


# --- the time zone --------------------------------------------------------------------------


async def test_the_page_offers_every_zone_by_its_iana_name_utc_selected(client: Client) -> None:
    page = await text(client, "/preferences")
    assert '<label for="time-zone">Time zone</label>' in page
    assert 'name="time_zone"' in start_tag(page, '<select id="time-zone"')
    assert [zone for _, zone in OPTION.findall(page)] == list(time_zones())
    assert selected_zones(page) == ["UTC"]
    assert "Times on every page are shown in this zone (UTC until you choose one)." in page


@pytest.mark.parametrize(
    ("moment", "shown"),
    [(datetime.fromisoformat("2026-11-02T09:00Z"), "2026-11-02 10:00 CET"),
     (datetime.fromisoformat("2026-07-01T09:00Z"), "2026-07-01 11:00 CEST")],
    ids=["winter", "summer"],
)
@on_cookies
async def test_berlin_chosen_the_profile_shows_the_login_time_in_berlin(
    app: Quart, client: Client, user: User, time_machine: time_machine.TimeMachineFixture,
    moment: datetime, shown: str,
) -> None:
    time_machine.move_to(moment, tick=False)
    await log_in(app, client, user)
    assert (await choose(client, "system", zone="Europe/Berlin")).status_code == 303
    assert selected_zones(await text(client, "/preferences")) == ["Europe/Berlin"]
    assert await login_time_shown(client) == shown


async def test_the_zone_chosen_before_login_survives_the_login_form(
    auth: AuthActions, user: User, present: datetime,
) -> None:
    await choose(auth.client, "system", zone="Asia/Kolkata")
    assert (await auth.login()).status_code == 303
    kolkata = present + timedelta(hours=5, minutes=30)  # no daylight saving there
    assert await login_time_shown(auth.client) == f"{kolkata:%Y-%m-%d %H:%M} IST"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "europe/berlin", "Europe/Berlin ",
                                  "../../etc/passwd", "Europe/Berlin\x00"])
async def test_a_zone_not_offered_is_a_400_that_says_so_and_nothing_is_saved(
    client: Client, zone: str,
) -> None:
    assert (await choose(client, "dark", zone="Europe/Paris")).status_code == 303
    response = await choose(client, "light", zone=zone)
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert '<p class="error" role="alert" id="zone-error">' + UNKNOWN_ZONE in page
    assert UNKNOWN_THEME not in page
    assert CHECKED.findall(page) == ["light"]  # the valid half is shown as sent, not saved
    again = await text(client, "/preferences")
    assert selected_zones(again) == ["Europe/Paris"]
    assert 'data-theme="dark"' in html_tag(again)


async def test_a_refused_zone_marks_its_field_invalid_described_and_focused(
    client: Client,
) -> None:
    response = await choose(client, "system", zone="Mars/Olympus_Mons")
    select = start_tag(await response.get_data(as_text=True), "<select")
    assert 'aria-invalid="true"' in select
    assert 'aria-describedby="zone-error time-zone-hint"' in select
    assert "autofocus" in select


async def test_a_form_without_the_zone_field_keeps_the_zone(client: Client) -> None:
    await choose(client, "system", zone="Europe/Berlin")
    assert (await choose(client, "dark")).status_code == 303
    page = await text(client, "/preferences")
    assert selected_zones(page) == ["Europe/Berlin"]
    assert 'data-theme="dark"' in html_tag(page)


@pytest.mark.parametrize("stored", ["Mars/Olympus_Mons", "", 1, None, ["Europe/Berlin"],
                                    {"Europe/Berlin": True}])
async def test_a_bad_zone_in_the_session_is_utc_on_every_page_never_an_error(
    app: Quart, client: Client, user: User, present: datetime, stored: object,
) -> None:
    await log_in(app, client, user)
    async with client.session_transaction() as kept:
        kept["time_zone"] = stored
    assert selected_zones(await text(client, "/preferences")) == ["UTC"]
    assert await login_time_shown(client) == f"{present:%Y-%m-%d %H:%M} UTC"
