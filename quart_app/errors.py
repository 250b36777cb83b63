"""Every error as a page in the site's layout, with the status code it names."""

import contextlib
import logging
from typing import Final

from quart import Quart, ResponseReturnValue, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
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


def init_app(app: Quart) -> None:
    """Render HTTP errors, a database outage as 503 and anything else as 500."""

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> ResponseReturnValue:
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
        description = THROTTLED.get(error.limits[0], THROTTLED[ADDRESS]).format(wait=wait)
        page = render("error.html", error=TooManyRequests(description))
        return page, 429, {"Retry-After": str(error.retry_after)}

    @app.errorhandler(SessionTooLargeError)
    async def session_too_large(error: SessionTooLargeError) -> ResponseReturnValue:
        log.error("session not saved: %s", error)
        return render("error.html", error=InternalServerError()), 500

    @app.errorhandler(SessionThrottledError)
    async def too_many_sessions(error: SessionThrottledError) -> ResponseReturnValue:
        log.warning("new session refused for %s: %s", request.remote_addr, error)
        description = ("Too many new visitor sessions from your network. "
                       f"Try again in {wait_in_words(error.retry_after)}.")
        page = render("error.html", error=TooManyRequests(description))
        return page, 429, {"Retry-After": str(error.retry_after)}

    @app.errorhandler(InternalServerError)
    async def internal_error(error: InternalServerError) -> ResponseReturnValue:
        log.error("unhandled error", exc_info=error.original_exception)
        return render("error.html", error=error), 500
