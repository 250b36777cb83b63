"""The session cookie as Chromium stores it on http://127.0.0.1."""

import time

import pytest
from playwright.async_api import BrowserContext, Page

from ..conftest import COOKIE
from .conftest import Person

pytestmark = pytest.mark.e2e


async def session_cookie(context: BrowserContext) -> dict[str, object]:
    [cookie] = [c for c in await context.cookies() if c.get("name") == COOKIE]
    return dict(cookie)


async def test_cookie_attributes_without_remember(
    context: BrowserContext, person: Person
) -> None:
    await person.log_in()
    cookie = await session_cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1"
    assert cookie["expires"] == -1


async def test_cookie_expires_in_a_week_with_remember(
    context: BrowserContext, person: Person
) -> None:
    await person.log_in(remember=True)
    cookie = await session_cookie(context)
    expires = cookie["expires"]
    assert isinstance(expires, (int, float))
    assert abs(expires - (time.time() + 7 * 24 * 3600)) < 120


async def test_scripts_cannot_read_the_session_cookie(page: Page, person: Person) -> None:
    await person.log_in()
    assert COOKIE not in await page.evaluate("document.cookie")


async def test_logout_removes_the_cookie(context: BrowserContext, person: Person) -> None:
    await person.log_in(remember=True)
    await person.log_out()
    assert [c for c in await context.cookies() if c.get("name") == COOKIE] == []
