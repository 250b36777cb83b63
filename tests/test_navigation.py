"""The header's navigation says which page is open: ``aria-current="page"`` on its link only."""

from html.parser import HTMLParser

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.users import User

from .conftest import log_in


class CurrentMarks(HTMLParser):
    """Every element carrying ``aria-current``: (tag, its value, its href, inside the nav)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.marks: list[tuple[str, str | None, str | None, bool]] = []
        self._navs = 0
        self._in_header_nav = False
        self._in_header = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Track the header's ``<nav>``; note each ``aria-current``."""
        attributes = dict(attrs)
        if tag == "header":
            self._in_header = True
        elif tag == "nav" and self._in_header:
            self._in_header_nav = True
        if "aria-current" in attributes:
            self.marks.append((tag, attributes["aria-current"], attributes.get("href"),
                               self._in_header_nav))

    def handle_endtag(self, tag: str) -> None:
        """Leave the header or its nav."""
        if tag == "nav":
            self._in_header_nav = False
        elif tag == "header":
            self._in_header = False


async def marks_on(client: Client, path: str) -> list[tuple[str, str | None, str | None, bool]]:
    response = await client.get(path)
    assert response.status_code in {200, 404}, path
    return CurrentMarks(await response.get_data(as_text=True)).marks


@pytest.mark.parametrize("path", ["/profile", "/sessions", "/account/password", "/preferences"])
async def test_a_logged_in_page_marks_its_own_link_in_the_header_and_nothing_else(
    app: Quart, client: Client, user: User, path: str,
) -> None:
    await log_in(app, client, user)
    assert await marks_on(client, path) == [("a", "page", path, True)]


@pytest.mark.parametrize("path", ["/login", "/register", "/preferences"])
async def test_an_anonymous_page_marks_its_own_link_in_the_header_and_nothing_else(
    client: Client, path: str,
) -> None:
    assert await marks_on(client, path) == [("a", "page", path, True)]


@pytest.mark.parametrize("path", ["/logout", "/no-such-page"])
async def test_a_page_the_header_does_not_list_marks_no_link(
    app: Quart, client: Client, user: User, path: str,
) -> None:
    await log_in(app, client, user)
    assert await marks_on(client, path) == []
