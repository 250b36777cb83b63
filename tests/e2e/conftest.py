"""Browser fixtures: Debian's Chromium driven by Playwright against a real Hypercorn.

Playwright's own browser download cannot work on these machines, so the
tests launch ``/usr/bin/chromium``; where it is missing they skip with the
reason (and fail in CI, where skips are forbidden).
"""

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from ..conftest import PASSWORD
from ..live_server import LiveServer, create_user, free_port, live_server

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_FLAGS: Final = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
AXE: Final = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS: Final = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """The app from ``hypercorn.toml`` with two workers, with alice already registered."""
    async with live_server(tmp_path / "instance") as running:
        await create_user(running, "alice", PASSWORD)
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A fresh headless Chromium."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser, server: LiveServer) -> AsyncIterator[BrowserContext]:
    """One browser profile pointed at the server."""
    created = await browser.new_context(base_url=server.url)
    yield created
    await created.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    """A tab in that profile."""
    return await context.new_page()


@dataclass
class Person:
    """Someone using the site with a mouse and keyboard, in one tab."""

    page: Page

    async def log_in(self, username: str = "alice", password: str = PASSWORD, *,
                     remember: bool = False) -> None:
        """Fill the login form and submit it."""
        if "/login" not in self.page.url:
            await self.page.goto("/login")
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Password").fill(password)
        if remember:
            await self.page.get_by_label("Remember me").check()
        await self.page.get_by_role("button", name="Log in").click()

    async def log_out(self) -> None:
        """Press the log-out button in the page header."""
        await self.page.get_by_role("navigation").get_by_role("button", name="Log out").click()
        await expect(self.page.get_by_role("heading", name="You are logged out")).to_be_visible()


@pytest.fixture
def person(page: Page) -> Person:
    """A person at the keyboard of ``page``."""
    return Person(page)


@dataclass
class OtherSite:
    """A second local web server on its own port: the attacker's origin."""

    url: str
    html: str = ""


@pytest.fixture
async def other_site() -> AsyncIterator[OtherSite]:
    """Serve ``OtherSite.html`` for every request on a free port of 127.0.0.1."""
    port = free_port()
    site = OtherSite(f"http://127.0.0.1:{port}/")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        body = site.html.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", port)
    async with listener:
        yield site
