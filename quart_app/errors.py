"""Every error as a page in the site's layout, in plain words, with the status code it names.

A page says what happened in the user's words (never Werkzeug's stock
sentences), shows the status code small for whoever quotes it to support,
and links on: to the profile when logged in, else to the login page. A
description of our own (the host check's, CSRF's, a throttle's wait) is
kept; a stock one is replaced by ``ERROR_WORDS``.

A POST-only address that a person can open by hand (the address bar, Back
after a failed form) is not an error: its GET or HEAD is a 303 to the page
that has its form (``FORM_PAGES``). Any other method a route does not serve
is the 405 page, with ``Allow``.
"""

import contextlib
import logging
from typing import Final, NamedTuple

from quart import Quart, ResponseReturnValue, current_app, redirect, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    ServiceUnavailable,
    TooManyRequests,
)

from .identity import forget_user, load_current_user
from .passwords import HashingBusyError
from .sessions import SessionStoreUnavailableError, SessionThrottledError, SessionTooLargeError
from .templating import render
from .throttle import (
    ACCOUNT,
    ADDRESS,
    CONFIRM_ACCOUNT,
    CONFIRM_SESSION,
    REGISTRATION,
    LoginThrottledError,
    ThrottleStoreUnavailableError,
    wait_in_words,
)
from .users import DATABASE_ERRORS, QUERY_TIMEOUT

log = logging.getLogger(__name__)


class ErrorWords(NamedTuple):
    """What an error page says: its heading (also the title's) and its sentence."""

    heading: str
    text: str


ERROR_WORDS: Final = {
    400: ErrorWords("That request could not be read",
                    "Your browser sent something this site does not understand. Go back, "
                    "reload the page and try again."),
    403: ErrorWords("Not allowed", "You cannot do that here."),
    404: ErrorWords("Page not found",
                    "There is no page at this address. Check the address, or use the link "
                    "below."),
    405: ErrorWords("Not possible at this address",
                    "This address does not take that kind of request. Use this site's own "
                    "pages and buttons instead."),
    408: ErrorWords("That took too long",
                    "Your browser took too long to send that. Please try again."),
    413: ErrorWords("That was too large",
                    "What you sent is larger than this site accepts. Send less and try "
                    "again."),
    415: ErrorWords("That form could not be read",
                    "Your browser sent a form this site cannot read. Reload the page and "
                    "send it again."),
    429: ErrorWords("Please wait",
                    "There have been too many attempts in a short time. Wait a little, "
                    "then try again."),
    431: ErrorWords("Too much sent with that request",
                    "Your browser sent more cookies or other details than this site "
                    "accepts. Delete this site's cookies, then try again."),
    500: ErrorWords("Something went wrong on our side",
                    "This page could not be shown because of a fault in this site, not "
                    "anything you did. Please try again in a moment."),
    503: ErrorWords("Temporarily unavailable",
                    "This site cannot answer right now. Please try again in a moment."),
}
OTHER_REFUSAL: Final = ErrorWords("That could not be done",
                                  "This site could not handle that request. Go back and try "
                                  "again.")

# POST-only routes a person can reach by a GET (address bar, Back after a failed form), by
# endpoint, and the page that has their form: their GET or HEAD is a 303 there.
FORM_PAGES: Final = {
    "account.delete": "/account/password",
    "sessions_page.revoke": "/sessions",
    "sessions_page.revoke_others": "/sessions",
}
FORM_PAGE_STATUS: Final = 303  # See Other: the address names an action, its page is elsewhere


def error_words(error: HTTPException) -> ErrorWords:
    """The heading and the sentence for ``error``'s page (a template global)."""
    code = error.code or 500
    words = ERROR_WORDS.get(code) or (ERROR_WORDS[500] if code >= 500 else OTHER_REFUSAL)
    own = error.description if error.description != type(error).description else None
    return words._replace(text=own) if own else words


def form_page() -> str | None:
    """Where a GET or HEAD of a POST-only form's address goes (``FORM_PAGES``), if it is one."""
    if request.method not in ("GET", "HEAD"):
        return None
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return None
    try:
        rule, _ = adapter.match(method="POST", return_rule=True)
    except HTTPException:  # no POST either (404), or a redirect to the canonical address
        return None
    return FORM_PAGES.get(rule.endpoint)


RETRY_AFTER_SECONDS: Final = "5"
HASHING_RETRY_AFTER_SECONDS: Final = "2"


DATABASE_DOWN: Final = "The account database is not answering. Please try again in a moment."
SESSION_STORE_DOWN: Final = "The session store is not answering. Please try again in a moment."
THROTTLE_STORE_DOWN: Final = (
    "Logging in is paused: the service that counts login attempts is not answering. "
    "Please try again in a moment."
)
# What a 429 says, by the limit that was reached: what happened, to what, and for how long.
THROTTLED: Final = {
    ACCOUNT: "Too many failed logins for this account. Logging in to it is paused for {wait}; "
             "then the right password works again.",
    ADDRESS: "Too many failed logins from your network. Logging in from it is paused for "
             "{wait}.",
    REGISTRATION: "Too many new accounts from your network. Try again in {wait}.",
    CONFIRM_SESSION: "Too many wrong passwords in this session. Try again in {wait}.",
    CONFIRM_ACCOUNT: "Too many wrong passwords for this account. Try again in {wait}.",
}
HASHING_BUSY: Final = (
    "Too many people are logging in right now. Please try again in a moment."
)


async def unavailable(message: str, retry_after: str) -> ResponseReturnValue:
    """A 503 page that tells browsers and proxies when to try again."""
    page = render("error.html", error=ServiceUnavailable(message))
    return page, 503, {"Retry-After": retry_after}


def too_many(description: str, retry_after: int) -> ResponseReturnValue:
    """A 429 page saying what was refused and for how long, with ``Retry-After``."""
    page = render("error.html", error=TooManyRequests(description))
    return page, 429, {"Retry-After": str(retry_after)}


def init_app(app: Quart) -> None:
    """Render HTTP errors, a database outage as 503 and anything else as 500."""
    app.jinja_env.globals["error_words"] = error_words

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> ResponseReturnValue:
        if isinstance(error, MethodNotAllowed) and (target := form_page()) is not None:
            return redirect(target, FORM_PAGE_STATUS)
        # Memoised: loads only for a request refused before its user was (host check, CSRF).
        with contextlib.suppress(*DATABASE_ERRORS, SessionStoreUnavailableError):
            await load_current_user()
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return render("error.html", error=error), error.code or 500, headers

    @app.errorhandler(DBAPIError)
    async def database_down(error: DBAPIError) -> ResponseReturnValue:
        code = getattr(error.orig, "sqlite_errorname", None)  # SQLITE_FULL, SQLITE_READONLY…
        log.error("database unavailable: %s", " ".join(
            filter(None, [type(error.orig).__name__, code])))
        return await unavailable(DATABASE_DOWN, RETRY_AFTER_SECONDS)

    @app.errorhandler(TimeoutError)
    async def database_silent(error: TimeoutError) -> ResponseReturnValue:
        # Redis timeouts arrive as SessionStoreUnavailableError and the hashing queue's as
        # HashingBusyError; a bare one is asyncpg's statement timeout, which SQLAlchemy
        # passes through unwrapped.
        log.error("database unavailable: no answer within %s s", QUERY_TIMEOUT)
        return await unavailable(DATABASE_DOWN, RETRY_AFTER_SECONDS)

    @app.errorhandler(SessionStoreUnavailableError)
    async def session_store_down(error: SessionStoreUnavailableError) -> ResponseReturnValue:
        log.error("session store unavailable: %s", error)
        forget_user()
        return await unavailable(SESSION_STORE_DOWN, RETRY_AFTER_SECONDS)

    @app.errorhandler(ThrottleStoreUnavailableError)
    async def throttle_store_down(error: ThrottleStoreUnavailableError) -> ResponseReturnValue:
        log.error("login throttle store unavailable: %s", error)
        return await unavailable(THROTTLE_STORE_DOWN, RETRY_AFTER_SECONDS)

    @app.errorhandler(HashingBusyError)
    async def hashing_busy(error: HashingBusyError) -> ResponseReturnValue:
        log.warning("refused %s %s: password hashing queue full", request.method, request.path)
        return await unavailable(HASHING_BUSY, HASHING_RETRY_AFTER_SECONDS)

    @app.errorhandler(LoginThrottledError)
    async def throttled(error: LoginThrottledError) -> ResponseReturnValue:
        wait = wait_in_words(error.retry_after)
        return too_many(THROTTLED.get(error.limits[0], THROTTLED[ADDRESS]).format(wait=wait),
                        error.retry_after)

    @app.errorhandler(SessionTooLargeError)
    async def session_too_large(error: SessionTooLargeError) -> ResponseReturnValue:
        log.error("session not saved: %s", error)
        return render("error.html", error=InternalServerError()), 500

    @app.errorhandler(SessionThrottledError)
    async def too_many_sessions(error: SessionThrottledError) -> ResponseReturnValue:
        log.warning("new session refused for %s: %s", request.remote_addr, error)
        return too_many("Too many new visitor sessions from your network. "
                        f"Try again in {wait_in_words(error.retry_after)}.", error.retry_after)

    @app.errorhandler(InternalServerError)
    async def internal_error(error: InternalServerError) -> ResponseReturnValue:
        log.error("unhandled error", exc_info=error.original_exception)
        return render("error.html", error=error), 500
