"""Cross-site request forgery defence: fetch metadata first, then a synchronizer token.

A browser tells us where an unsafe request came from (``Sec-Fetch-Site``, or
``Origin`` in older browsers); anything cross-site is refused before the body
is read. Every unsafe request must also carry the token stored in the
session, so a forged form fails even where those headers are missing.
"""

import hmac
import logging
import secrets
from typing import Final

from quart import Quart, abort, request, session

from .sessions.policy import CSRF_TOKEN

log = logging.getLogger(__name__)

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SAME_SITE_FETCHES: Final = frozenset({"same-origin", "none"})
FORM_FIELD: Final = "csrf_token"
FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
REFUSED: Final = (
    "This form was not sent by this site, or it is too old. Reload the page and try again."
)


def csrf_token() -> str:
    """The session's token, created on first use so anonymous forms (login) have one too."""
    token = session.get(CSRF_TOKEN)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_TOKEN] = token
    return token


def is_cross_site() -> bool:
    """Tell whether the browser says this request started on another site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in SAME_SITE_FETCHES
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin != f"{request.scheme}://{request.host}"


async def protect() -> None:
    """Refuse an unsafe request that is cross-site, not a form, or has a wrong token."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return  # a route that does not exist or serve this method answers 404/405 itself
    if is_cross_site():
        log.warning("refused %s %s: cross-site request", request.method, request.path)
        abort(403, REFUSED)
    if request.mimetype not in FORM_TYPES:
        abort(415, "Send this form as application/x-www-form-urlencoded.")
    sent = (await request.form).get(FORM_FIELD, "")
    expected = session.get(CSRF_TOKEN)
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.warning("refused %s %s: missing or wrong CSRF token", request.method, request.path)
        abort(403, REFUSED)


def init_app(app: Quart) -> None:
    """Check every unsafe request and give templates ``csrf_token()``."""
    app.before_request(protect)
    app.jinja_env.globals["csrf_token"] = csrf_token
