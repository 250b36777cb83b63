"""Request guards and response hardening: trusted hosts, safe redirects, security headers."""

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Final
from urllib.parse import urlsplit

from hypercorn.middleware import ProxyFixMiddleware
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart, abort, current_app, request
from quart.typing import ResponseTypes

_HOST: Final = re.compile(
    r"(?P<name>[a-z0-9.-]+|\[[a-f0-9:.]+\])(?::(?P<port>[0-9]{1,5}))?", re.ASCII | re.IGNORECASE
)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
MAX_NEXT_LENGTH: Final = 2048
HOST_CHECK_EXEMPT: Final = frozenset({"/healthz"})

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
SECURITY_HEADER_LIST: Final = list(SECURITY_HEADERS.items())
HSTS: Final = "max-age=31536000"

type ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
EXTENSION_KEY: Final = "quart_app.trusted_hosts"


class TrustedHosts:
    """The ``TRUSTED_HOSTS`` list, compiled once: exact names and ``.suffix`` wildcards."""

    def __init__(self, hosts: Iterable[str]) -> None:
        hosts = list(hosts)
        self.exact = frozenset(h for h in hosts if not h.startswith("."))
        self.suffixes = tuple(h for h in hosts if h.startswith("."))

    def allows(self, host_header: str) -> bool:
        """Accept a ``Host`` header only for a configured name, whatever the port."""
        match = _HOST.fullmatch(host_header)
        if match is None:
            return False
        port = match["port"]
        if port is not None and not 1 <= int(port) <= 65535:
            return False
        name = match["name"].lower().removeprefix("[").removesuffix("]")
        return name in self.exact or name.endswith(self.suffixes)


def safe_next(target: object) -> str | None:
    """Return ``target`` if it is a path on this site, else None (no open redirects).

    Browsers treat ``//host``, ``/\\host`` and tab- or newline-split schemes as
    other sites, so anything but a plain local path is refused.
    """
    if not isinstance(target, str) or not target.startswith("/"):
        return None
    if len(target) > MAX_NEXT_LENGTH or "\\" in target or _CONTROL.search(target):
        return None
    if target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def init_app(app: Quart) -> None:
    """Keep the trusted host names; the hooks below are installed by the app factory."""
    app.extensions[EXTENSION_KEY] = TrustedHosts(app.config["TRUSTED_HOSTS"])


async def check_host() -> None:
    """Refuse a ``Host`` this app does not serve (400), before anything reads the request."""
    trusted = current_app.extensions[EXTENSION_KEY]
    assert isinstance(trusted, TrustedHosts)
    if request.path not in HOST_CHECK_EXEMPT and not trusted.allows(request.host):
        abort(400, "This host name is not served here.")


async def add_security_headers(response: ResponseTypes) -> ResponseTypes:
    """Every answer, error pages included, carries the security headers and ``no-store``."""
    response.headers.extend(SECURITY_HEADER_LIST)
    if request.scheme == "https":
        response.headers["Strict-Transport-Security"] = HSTS
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def trust_proxies(app: Quart, inner: ASGIApp) -> ASGIApp:
    """With ``PROXY_FIX_HOPS`` > 0, take scheme, host and client from ``X-Forwarded-*``."""
    if hops := app.config["PROXY_FIX_HOPS"]:
        return ProxyFixMiddleware(inner, mode="legacy", trusted_hops=hops)
    return inner
