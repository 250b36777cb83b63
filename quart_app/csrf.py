"""Cross-site request forgery defence: fetch metadata first, then a synchronizer token.

A browser tells us where an unsafe request came from (``Sec-Fetch-Site``, or
``Origin`` in older browsers); anything cross-site is refused before the body
is read. Every unsafe request must also carry a token: a logged-in session's
own (made at login), or, for an anonymous visitor (the login and registration
forms), one kept in its own signed ``__Host-csrf`` cookie, so that anonymous
page views never create a session, let alone a server-side record. That
cookie is deleted at login: nothing from before the login stays valid.

A wrong token on a form the browser says it sent from this very origin
(``Sec-Fetch-Site: same-origin``) is a stale tab, not a forgery: a view
marked ``resends_expired_form`` then runs only to show its form again, with a
fresh token, what was typed (never a password) and ``EXPIRED``; nothing is
done. Anything else with a wrong token, and anything cross-site, is a 403.
"""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any, Final

from itsdangerous import BadData, URLSafeSerializer
from quart import Quart, abort, current_app, g, request, session
from quart.typing import ResponseTypes

from .sessions.policy import CSRF_TOKEN, USER_ID
from .signing import CachedKeySigner

log = logging.getLogger(__name__)

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SAME_SITE_FETCHES: Final = frozenset({"same-origin", "none"})
FORM_FIELD: Final = "csrf_token"
FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
SALT: Final = "quart_app.csrf"
EXTENSION_KEY: Final = "quart_app.csrf"
MAX_COOKIE_LENGTH: Final = 256
HARMLESS_WITHOUT_LOGIN: Final = "csrf_harmless_without_login"
RESENDS_EXPIRED_FORM: Final = "csrf_resends_expired_form"
CROSS_SITE: Final = (
    "This form was sent from another site, so nothing was done. To do this, open this site "
    "yourself and use its own page."
)
UNCHECKED: Final = (
    "This form was not sent by this site, or it has expired, so nothing was done. Open the "
    "page again from this site's menu and send the form from there."
)
EXPIRED: Final = "This form had expired; check it and send it again."


def csrf_token() -> str:
    """The token for this page's forms: the session's, or the anonymous visitor's cookie's."""
    token = session.get(CSRF_TOKEN)
    if isinstance(token, str):
        return token
    if "csrf_anonymous" not in g:
        g.csrf_anonymous = _cookie_token()
        if g.csrf_anonymous is None:
            g.csrf_anonymous = secrets.token_urlsafe(32)
            g.csrf_cookie = "set"
    anonymous: str = g.csrf_anonymous
    return anonymous


def harmless_without_login[V: Callable[..., Any]](view: V) -> V:
    """Mark a view whose POST does nothing for a visitor who holds no login (logout).

    A logged-in session's token is still required; but when the session has
    already ended (expired, revoked elsewhere), its stale page's "Log out"
    button should log out, not show a forgery warning. Cross-site requests
    are refused before this matters.
    """
    setattr(view, HARMLESS_WITHOUT_LOGIN, True)
    return view


def resends_expired_form[V: Callable[..., Any]](view: V) -> V:
    """Mark a view that shows its form again when a tab of this site sends a stale token.

    The view must check ``form_expired()`` first and, when it is true, only
    render its form (with ``EXPIRED``), never act.
    """
    setattr(view, RESENDS_EXPIRED_FORM, True)
    return view


def form_expired() -> bool:
    """Whether this request is a same-origin form with a stale token (see the module)."""
    return g.get("csrf_form_expired", False) is True


def _view_marked(mark: str) -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, mark, False) is True


def discard_anonymous_token() -> None:
    """Delete the anonymous token's cookie with this response (login rotates everything)."""
    g.pop("csrf_anonymous", None)
    if request.cookies.get(cookie_name()) is not None:
        g.csrf_cookie = "delete"
    else:
        g.pop("csrf_cookie", None)


def cookie_name() -> str:
    """``__Host-csrf`` wherever the session cookie is Secure (the default), else ``csrf``."""
    return "__Host-csrf" if current_app.config["SESSION_COOKIE_SECURE"] else "csrf"


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
        abort(403, CROSS_SITE)
    if request.mimetype not in FORM_TYPES:
        abort(415, "Send this form as application/x-www-form-urlencoded.")
    sent = (await request.form).get(FORM_FIELD, "")
    expected = session.get(CSRF_TOKEN)
    if not isinstance(expected, str):
        if USER_ID not in session and _view_marked(HARMLESS_WITHOUT_LOGIN):
            return
        expected = _cookie_token()
    if expected is not None and hmac.compare_digest(sent.encode(), expected.encode()):
        return
    if (request.headers.get("Sec-Fetch-Site") == "same-origin"
            and _view_marked(RESENDS_EXPIRED_FORM)):
        log.info("%s %s: stale CSRF token from this site; the form is shown again",
                 request.method, request.path)
        g.csrf_form_expired = True
        return
    log.warning("refused %s %s: missing or wrong CSRF token", request.method, request.path)
    abort(403, UNCHECKED)


def _serializer() -> URLSafeSerializer:
    serializer = current_app.extensions[EXTENSION_KEY]
    assert isinstance(serializer, URLSafeSerializer)
    return serializer


def _cookie_token() -> str | None:
    """The anonymous token from its cookie, if the cookie is one this app signed."""
    cookie = request.cookies.get(cookie_name())
    if cookie is None or len(cookie) > MAX_COOKIE_LENGTH:
        return None
    try:
        token = _serializer().loads(cookie)
    except BadData:
        return None
    return token if isinstance(token, str) else None


async def write_cookie(response: ResponseTypes) -> ResponseTypes:
    """Send or delete the anonymous token's cookie when this request decided to."""
    action = g.get("csrf_cookie")
    if action is None:
        return response
    config = current_app.config
    attributes = {"path": "/", "secure": config["SESSION_COOKIE_SECURE"], "httponly": True,
                  "samesite": config["SESSION_COOKIE_SAMESITE"]}
    if action == "set":
        response.set_cookie(cookie_name(), _serializer().dumps(g.csrf_anonymous), **attributes)
    else:
        response.delete_cookie(cookie_name(), **attributes)
    return response


def init_app(app: Quart) -> None:
    """Check every unsafe request, give templates ``csrf_token()``, sign the anonymous cookie."""
    app.extensions[EXTENSION_KEY] = URLSafeSerializer(
        [*reversed(app.config["SECRET_KEY_FALLBACKS"]), app.config["SECRET_KEY"]],
        salt=SALT,
        signer=CachedKeySigner,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
