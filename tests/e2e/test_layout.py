"""The layout holds on a small phone: long names, field edges, card spacing, tap targets, header.

Measured in Chromium, since only a browser knows where things end up.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from ..conftest import PASSWORD
from ..live_server import LiveServer, create_user
from .conftest import Person

pytestmark = pytest.mark.e2e

SMALL_PHONE = {"width": 320, "height": 640}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LOGGED_IN_PAGES = ["/profile", "/sessions", "/account/password", "/preferences", "/logout"]
# WCAG 1.4.11: the visible edge of a control needs 3:1 against what is next to it.
NON_TEXT_CONTRAST = 3.0
# WCAG 2.5.8: a target at least 24 CSS pixels high, or spaced as if it were.
TARGET = 24


@pytest.fixture
async def phone(browser: Browser, server: LiveServer) -> AsyncIterator[BrowserContext]:
    """A browser profile with a 390 px wide touch screen."""
    created = await browser.new_context(base_url=server.url, viewport=PHONE,  # type: ignore[arg-type]
                                        is_mobile=True, has_touch=True)
    yield created
    await created.close()


async def logged_in(context: BrowserContext, username: str = "alice") -> Page:
    """A tab of ``context`` on the profile page of ``username``."""
    person = Person(await context.new_page())
    await person.log_in(username)
    await expect(person.page).to_have_url(re.compile("/profile$"))
    return person.page


async def test_a_64_character_name_fits_every_logged_in_page_at_320px(
    browser: Browser, server: LiveServer,
) -> None:
    name = "a" * 64
    await create_user(server, name, PASSWORD)
    context = await browser.new_context(base_url=server.url, viewport=SMALL_PHONE)  # type: ignore[arg-type]
    page = await logged_in(context, name)
    overflow, collisions = {}, {}
    for path in LOGGED_IN_PAGES:
        await page.goto(path)
        await expect(page.get_by_text(name).first).to_be_visible()
        overflow[path] = await page.evaluate(
            "document.documentElement.scrollWidth - window.innerWidth")
        collisions[path] = await header_collisions(page)
    await context.close()
    assert overflow == dict.fromkeys(LOGGED_IN_PAGES, 0)
    assert collisions == {path: [] for path in LOGGED_IN_PAGES}


async def header_collisions(page: Page) -> list[str]:
    """The header's texts that overlap one another or stick out of the window on either side.

    Text that does not fit can spill to the left, where it makes no scroll bar.
    """
    found: list[str] = await page.evaluate("""() => {
        const texts = [...document.querySelectorAll(
            'header.site :is(.brand, .who, nav a, nav button)')].map(item => {
            const text = document.createRange();
            text.selectNodeContents(item);
            return [item.textContent.trim().slice(0, 20), text.getBoundingClientRect()];
        });
        const found = texts.filter(([, box]) => box.left < 0 || box.right > window.innerWidth)
            .map(([name]) => `${name} sticks out`);
        texts.forEach(([one, a], i) => texts.slice(i + 1).forEach(([other, b]) => {
            if (a.left < b.right - .5 && b.left < a.right - .5
                && a.top < b.bottom - .5 && b.top < a.bottom - .5) {
                found.push(`${one} overlaps ${other}`);
            }
        }));
        return found;
    }""")
    return found


async def test_a_32_character_name_stays_inside_the_profile_card_at_390px(
    phone: BrowserContext, server: LiveServer,
) -> None:
    name = "b" * 32
    await create_user(server, name, PASSWORD)
    page = await logged_in(phone, name)
    heading, card = await page.evaluate("""() => {
        const h1 = document.querySelector('.card h1');
        const text = document.createRange();
        text.selectNodeContents(h1);
        const box = rect => [rect.left, rect.top, rect.right, rect.bottom];
        const card = h1.closest('.card');
        return [box(text.getBoundingClientRect()), box(card.getBoundingClientRect())];
    }""")
    assert inside(heading, card), f"the heading's text {heading} spills out of its card {card}"


def inside(inner: list[float], outer: list[float]) -> bool:
    """Whether box ``inner`` (left, top, right, bottom) lies within box ``outer``."""
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and inner[2] <= outer[2] and inner[3] <= outer[3])


def luminance(colour: str) -> float:
    """WCAG relative luminance of an opaque ``rgb(r, g, b)`` as ``getComputedStyle`` gives it."""
    match = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)", colour)
    assert match, f"not an rgb() colour: {colour}"
    assert match[4] in (None, "1"), f"translucent colour: {colour}"

    def linear(channel: str) -> float:
        c = int(channel) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(match[i]) for i in (1, 2, 3))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two colours, 1 to 21."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def field_colours(page: Page) -> list[dict[str, Any]]:
    """Each text or password field's four border colours, own background and card background."""
    result: list[dict[str, Any]] = await page.evaluate("""() =>
        [...document.querySelectorAll('input[type=text], input[type=password], input:not([type])')]
        .map(input => {
            const own = getComputedStyle(input);
            return {
                name: input.name,
                borders: ['Top', 'Right', 'Bottom', 'Left'].map(
                    side => own[`border${side}Color`]),
                background: own.backgroundColor,
                card: getComputedStyle(input.closest('.card')).backgroundColor,
            };
        })""")
    return result


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_text_field_edge_has_3_to_1_contrast_with_the_card_and_the_field(
    browser: Browser, server: LiveServer, scheme: str,
) -> None:
    context = await browser.new_context(base_url=server.url,
                                        color_scheme=scheme)  # type: ignore[arg-type]
    page = await context.new_page()
    too_faint = []
    fields = 0
    for path in ["/login", "/register", "/account/password"]:
        if path == "/account/password":
            page = await logged_in(context)
        await page.goto(path)
        for field in await field_colours(page):
            fields += 1
            ratio = min(contrast(border, against) for border in field["borders"]
                        for against in (field["card"], field["background"]))
            if ratio < NON_TEXT_CONTRAST:
                too_faint.append(f"{path} {field['name']}: {ratio:.2f}:1")
    await context.close()
    assert fields >= 8
    assert too_faint == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_every_cards_heading_sits_at_the_same_distance_from_its_top(
    browser: Browser, server: LiveServer, viewport: dict[str, int],
) -> None:
    context = await browser.new_context(base_url=server.url, viewport=viewport)  # type: ignore[arg-type]
    page = await logged_in(context)
    await page.goto("/account/password")
    offsets = await page.evaluate("""() => [...document.querySelectorAll('.card')].map(card =>
        card.querySelector('h1, h2').getBoundingClientRect().top
        - card.getBoundingClientRect().top)""")
    await context.close()
    assert len(offsets) == 2
    assert offsets[1] == pytest.approx(offsets[0], abs=0.5)


async def test_the_profile_links_are_separate_unbroken_targets_on_a_phone(
    phone: BrowserContext,
) -> None:
    page = await logged_in(phone)
    links = await page.evaluate("""() => [...document.querySelectorAll('.profile-links a')]
        .map(link => {
            const text = document.createRange();
            text.selectNodeContents(link);
            const box = link.getBoundingClientRect();
            const lines = new Set([...text.getClientRects()].map(r => Math.round(r.top)));
            return {text: link.textContent, lines: lines.size,
                    box: [box.left, box.top, box.right, box.bottom]};
        })""")
    assert [link["lines"] for link in links] == [1, 1], links
    for link in links:
        _, top, _, bottom = link["box"]
        assert bottom - top >= TARGET, link
    first, second = (link["box"] for link in links)
    side_by_side = second[1] < first[3] and first[1] < second[3]
    gap = second[0] - first[2] if side_by_side else second[1] - first[3]
    assert gap >= 8, links


async def test_the_header_takes_two_rows_on_a_phone_and_marks_the_current_page(
    phone: BrowserContext,
) -> None:
    page = await logged_in(phone)
    header = await page.evaluate("""() => {
        const header = document.querySelector('header.site');
        const items = [...header.querySelectorAll('.brand, .who, nav a, nav button')];
        // A row: items overlapping one another vertically.
        const boxes = items.map(item => item.getBoundingClientRect()).sort((a, b) => a.top - b.top);
        const rows = [];
        for (const box of boxes) {
            const row = rows.at(-1);
            if (row && box.top < row.bottom - 1) row.bottom = Math.max(row.bottom, box.bottom);
            else rows.push({top: box.top, bottom: box.bottom});
        }
        const overflowing = header.scrollWidth > header.clientWidth;
        const brand = header.querySelector('.brand').getBoundingClientRect();
        const brandOnTop = document.elementFromPoint(brand.left + brand.width / 2,
                                                     brand.top + brand.height / 2);
        const weight = link => Number(getComputedStyle(link).fontWeight);
        const current = header.querySelector('nav a[aria-current=page]');
        const others = [...header.querySelectorAll('nav a:not([aria-current])')];
        return {rows: rows.map(row => [row.top, row.bottom]), items: items.length, overflowing,
                brandClickable: brandOnTop !== null && brandOnTop.matches('.brand'),
                current: current && current.getAttribute('href'),
                currentWeight: current ? weight(current) : 0,
                otherWeights: others.map(weight)};
    }""")
    assert header["items"] == 7
    assert len(header["rows"]) <= 2, header
    assert not header["overflowing"]
    assert header["brandClickable"]
    assert header["current"] == "/profile"
    assert header["currentWeight"] >= 600
    assert max(header["otherWeights"]) <= 400
