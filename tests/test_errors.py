"""Error pages: plain words, the code small, a link on; POST-only forms' GETs go to their page.

And the last-resort handler: an unexpected failure is a plain 500 page and a logged trace.
"""

import logging
import re
from typing import Any

import pytest
from markupsafe import escape
from quart import Quart, abort
from quart.typing import TestClientProtocol as Client
from werkzeug.exceptions import HTTPException, default_exceptions

from quart_app.csrf import CROSS_SITE, UNCHECKED
from quart_app.errors import FORM_PAGES, HASHING_BUSY
from quart_app.passwords import HashingBusyError
from quart_app.throttle import ADDRESS, LoginThrottledError
from quart_app.users import User

from .conftest import log_in

DETAIL = "connection to /srv/secret.db refused: password=hunter2"

# What each status the app can answer says when the error brings no words of its own.
WORDS = {
    400: ("That request could not be read",
          "Your browser sent something this site does not understand. Go back, reload the "
          "page and try again."),
    403: ("Not allowed", "You cannot do that here."),
    404: ("Page not found",
          "There is no page at this address. Check the address, or use the link below."),
    405: ("Not possible at this address",
          "This address does not take that kind of request. Use this site's own pages and "
          "buttons instead."),
    408: ("That took too long", "Your browser took too long to send that. Please try again."),
    413: ("That was too large",
          "What you sent is larger than this site accepts. Send less and try again."),
    415: ("That form could not be read",
          "Your browser sent a form this site cannot read. Reload the page and send it again."),
    429: ("Please wait",
          "There have been too many attempts in a short time. Wait a little, then try again."),
    431: ("Too much sent with that request",
          "Your browser sent more cookies or other details than this site accepts. Delete "
          "this site's cookies, then try again."),
    500: ("Something went wrong on our side",
          "This page could not be shown because of a fault in this site, not anything you "
          "did. Please try again in a moment."),
    501: ("Something went wrong on our side",  # any other 5xx
          "This page could not be shown because of a fault in this site, not anything you "
          "did. Please try again in a moment."),
    503: ("Temporarily unavailable",
          "This site cannot answer right now. Please try again in a moment."),
    418: ("That could not be done",  # any other 4xx
          "This site could not handle that request. Go back and try again."),
}
CODES = sorted(WORDS)
PROFILE_LINK = '<a href="/profile">Go to your profile</a>'
LOGIN_LINK = '<a href="/login">Log in</a>'
POST_ONLY = [
    pytest.param("/account/delete", "/account/password", id="account-delete"),
    pytest.param("/sessions/revoke-others", "/sessions", id="revoke-others"),
    pytest.param("/sessions/some-handle/revoke", "/sessions", id="revoke-one"),
]
# Errors that bring their own words, as the app raises them: those words are kept.
OWN_WORDS = [
    pytest.param("GET", "/login", {"headers": {"Host": "evil.example"}}, 400,
                 "This host name is not served here.", id="400-host"),
    pytest.param("POST", "/login", {"form": {"username": "alice"},
                                    "headers": {"Sec-Fetch-Site": "cross-site"}},
                 403, CROSS_SITE, id="403-cross-site"),
    pytest.param("POST", "/login", {"form": {"username": "alice"}}, 403, UNCHECKED,
                 id="403-no-token"),
    pytest.param("POST", "/login", {"data": "{}", "headers": {"Content-Type": "text/plain"}},
                 415, "Send this form as application/x-www-form-urlencoded.", id="415"),
    pytest.param("GET", "/busy", {}, 503, HASHING_BUSY, id="503-hashing"),
    pytest.param("GET", "/throttled", {}, 429,
                 "Too many failed logins from your network. Logging in from it is paused for "
                 "2 minutes.", id="429-throttled"),
]


@pytest.fixture
def broken(app: Quart) -> Quart:
    """The app with routes that fail: ``/fail/<code>`` aborts with Werkzeug's own exception."""
    async def aborting(code: int) -> str:
        abort(code)

    async def busy() -> str:
        raise HashingBusyError

    async def throttled() -> str:
        raise LoginThrottledError(120, [ADDRESS])

    app.add_url_rule("/fail/<int:code>", "fail", aborting)
    app.add_url_rule("/busy", "busy", busy)
    app.add_url_rule("/throttled", "throttled", throttled)
    return app


def card(page: str) -> str:
    """The error page's own card, without the layout (whose menu has a "Log in" link too)."""
    found = re.search(r'<section class="card">(.*?)</section>', page, re.S)
    assert found is not None, page
    return found.group(1)


async def send(client: Client, method: str, path: str, **options: Any) -> Any:
    """Send one request; ``options`` as the test client takes them (a form, headers…)."""
    return await client.open(path, method=method, **options)


async def fail(broken: Quart, code: int) -> tuple[Any, str]:
    """Answer ``/fail/<code>``: the response and its page."""
    response = await broken.test_client().get(f"/fail/{code}")
    return response, await response.get_data(as_text=True)


# --- the words ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
async def test_each_status_has_a_plain_heading(broken: Quart, code: int) -> None:
    response, page = await fail(broken, code)
    assert response.status_code == code
    assert f"<h1>{WORDS[code][0]}</h1>" in page


@pytest.mark.parametrize("code", CODES)
async def test_each_status_says_what_happened_in_plain_words(broken: Quart, code: int) -> None:
    _, page = await fail(broken, code)
    assert f'<p role="alert">{escape(WORDS[code][1])}</p>' in page


@pytest.mark.parametrize("code", CODES)
async def test_no_error_page_has_werkzeugs_words(broken: Quart, code: int) -> None:
    _, page = await fail(broken, code)
    stock: HTTPException = default_exceptions[code]()
    assert stock.description is not None
    assert [words for words in (stock.name, stock.description, escape(stock.description),
                                "The requested URL was not found on the server")
            if words in page] == []


@pytest.mark.parametrize("code", CODES)
async def test_each_error_pages_title_starts_with_error(broken: Quart, code: int) -> None:
    _, page = await fail(broken, code)
    assert f"<title>Error: {WORDS[code][0]} · Sessions</title>" in page


@pytest.mark.parametrize("code", CODES)
async def test_each_error_page_shows_its_status_code_small(broken: Quart, code: int) -> None:
    _, page = await fail(broken, code)
    assert f'<p class="hint">Error {code}</p>' in card(page)


@pytest.mark.parametrize(("method", "path", "options", "code", "words"), OWN_WORDS)
async def test_an_errors_own_words_are_kept_under_the_plain_heading(
    broken: Quart, method: str, path: str, options: dict[str, Any], code: int, words: str,
) -> None:
    response = await send(broken.test_client(), method, path, **options)
    page = await response.get_data(as_text=True)
    assert response.status_code == code
    assert f"<h1>{WORDS[code][0]}</h1>" in page
    assert f'<p role="alert">{escape(words)}</p>' in page


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged-in", "logged-out"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("PUT", "/login"),
                                              ("GET", "/fail/500"), ("GET", "/busy")])
async def test_the_error_pages_link_goes_to_the_profile_or_the_login(
    broken: Quart, user: User, logged_in: bool, method: str, path: str,
) -> None:
    client = broken.test_client()
    if logged_in:
        await log_in(broken, client, user)
    response = await send(client, method, path)
    assert response.status_code >= 400
    links = re.findall(r"<a [^>]*>[^<]*</a>", card(await response.get_data(as_text=True)))
    assert links == [PROFILE_LINK if logged_in else LOGIN_LINK]


# --- status codes and headers ------------------------------------------------------------------


@pytest.mark.parametrize(("path", "code", "header", "value"), [
    pytest.param("/busy", 503, "Retry-After", "2", id="503"),
    pytest.param("/throttled", 429, "Retry-After", "120", id="429"),
])
async def test_a_refusal_still_says_when_to_try_again(
    broken: Quart, path: str, code: int, header: str, value: str,
) -> None:
    response = await broken.test_client().get(path)
    assert (response.status_code, response.headers.get(header)) == (code, value)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    pytest.param("PUT", "/account/delete", {"POST", "OPTIONS"}, id="put-delete"),
    pytest.param("DELETE", "/sessions/revoke-others", {"POST", "OPTIONS"}, id="delete-others"),
    pytest.param("PATCH", "/sessions/h/revoke", {"POST", "OPTIONS"}, id="patch-revoke"),
    pytest.param("PUT", "/login", {"GET", "HEAD", "POST", "OPTIONS"}, id="put-login"),
    pytest.param("DELETE", "/profile", {"GET", "HEAD", "OPTIONS"}, id="delete-profile"),
])
async def test_another_method_is_still_a_405_page_with_allow(
    client: Client, method: str, path: str, allowed: set[str],
) -> None:
    response = await send(client, method, path)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == allowed
    assert f"<h1>{WORDS[405][0]}</h1>" in await response.get_data(as_text=True)


# --- a POST-only form's address opened by hand -------------------------------------------------


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged-in", "logged-out"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(("path", "form_page"), POST_ONLY)
async def test_opening_a_post_only_address_goes_to_the_page_with_its_form(
    app: Quart, user: User, logged_in: bool, method: str, path: str, form_page: str,
) -> None:
    client = app.test_client()
    if logged_in:
        await log_in(app, client, user)
    response = await send(client, method, path)
    # The first hop only: logged out, the form page then sends on to the login.
    assert (response.status_code, response.headers.get("Location")) == (303, form_page)


async def test_every_post_only_address_has_a_form_page(app: Quart) -> None:
    rules = list(app.url_map.iter_rules())
    pages = {rule.rule for rule in rules if "GET" in (rule.methods or ())}
    post_only = {rule.endpoint for rule in rules
                 if "POST" in (rule.methods or ()) and rule.rule not in pages}
    assert post_only == set(FORM_PAGES)


# --- the last resort ---------------------------------------------------------------------------


@pytest.mark.config(PROPAGATE_EXCEPTIONS=False)  # as served: TESTING would re-raise instead
async def test_an_unexpected_error_is_a_generic_500_page_and_a_logged_traceback(
    app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing() -> str:
        raise RuntimeError(DETAIL)

    app.add_url_rule("/failing", "failing", failing)
    with caplog.at_level(logging.ERROR, logger="quart_app"):
        response = await app.test_client().get("/failing")
    body = await response.get_data(as_text=True)
    assert response.status_code == 500
    assert f"<h1>{WORDS[500][0]}</h1>" in body
    assert [word for word in (DETAIL, "RuntimeError", "Traceback", "failing") if word in body] == []
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
