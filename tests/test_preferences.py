"""The visitor's theme: chosen on /preferences, kept in the session, shown as ``data-theme``."""

import re
from typing import Any

import pytest
from quart import Quart, session
from quart.typing import TestClientProtocol as Client

from quart_app.preferences import SAVED, UNKNOWN_THEME, current_theme
from quart_app.templating import render
from quart_app.users import User

from .conftest import AuthActions, config_on_backends, csrf_from, log_in

HTML_TAG = re.compile(r"<html[^>]*>")
CHECKED = re.compile(r'<input type="radio" name="theme" value="(\w+)"\s+checked>')


config = config_on_backends("cookie", "redis")


async def text(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200
    return await response.get_data(as_text=True)


def html_tag(page: str) -> str:
    """The page's ``<html …>`` start tag, where the theme is applied."""
    match = HTML_TAG.search(page)
    assert match, "page has no <html> tag"
    return match[0]


async def choose(client: Client, theme: str, token: str | None = None) -> Any:
    """Tick a theme on /preferences and press Save."""
    if token is None:
        token = csrf_from(await text(client, "/preferences"))
    return await client.post("/preferences", form={"theme": theme, "csrf_token": token})


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
    assert UNKNOWN_THEME in page
    assert '<p class="error" role="alert" id="preferences-error">' in page
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
