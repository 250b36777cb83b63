"""The access log: one line per request, written by the app instead of by Hypercorn.

Hypercorn's access logger builds, for every request, a dictionary of every
request header, every response header and every environment variable, only
to format seven fields from it: a tenth of this app's CPU per page. This ASGI
wrapper writes the same line from what it needs::

    [2026-12-01 09:00:00 +0000] [4242] [INFO] 127.0.0.1:50000 "GET /profile 1.1" 200 1834 \
    912us <4242> "curl/8.5"

(one line) client, request line (the path as the client sent it, without the query, which
may hold tokens; control characters escaped; the method escaped to a token), status,
response ``Content-Length``, microseconds, worker pid, user agent. It goes to
the ``quart_app.access`` logger, which ``serving.configure_logging`` sends to stdout.
"""

import logging
import os
import re
import time
from typing import Any, Final

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)

ACCESS_LOGGER: Final = "quart_app.access"
TIME_FORMAT: Final = "[%Y-%m-%d %H:%M:%S %z]"
COMMON_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class AccessLog:
    """ASGI middleware that logs each HTTP request once its response is complete."""

    def __init__(self, app: ASGIFramework, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger
        self.pid = f"<{os.getpid()}>"

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable,
                       send: ASGISendCallable) -> None:
        """Pass the request through, noting its status and length for the line."""
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 500, "length": "-"}

        async def noted_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-length":
                        response["length"] = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, noted_send)
        finally:
            self.logger.info(self._line(scope, response, time.perf_counter() - started))

    def _line(self, scope: HTTPScope, response: dict[str, Any], seconds: float) -> str:
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        agent = "-"
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = quoted_field(value.decode("latin-1"))
        raw_path = scope.get("raw_path")
        path = quoted_field(raw_path.decode("latin-1") if raw_path else scope["path"])
        return (f'{address} "{method_field(scope["method"])} {path} {scope["http_version"]}" '
                f'{response["status"]} {response["length"]} {int(seconds * 1_000_000)}us '
                f'{self.pid} "{agent}"')


def escape_controls(text: str) -> str:
    """Write control and line-breaking characters as escapes (ASVS 16.4.1, log injection).

    A path is percent-decoded before the app sees it, so ``/%0A[...] forged``
    would otherwise start a forged line in any log that prints it.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def quoted_field(text: str) -> str:
    """A field the access log writes between quotes: ``"`` and ``\\`` escaped as Apache does.

    Otherwise a user agent ``x" 500 0 1us <1> "y`` would forge the fields after it.
    """
    return escape_controls(text.replace("\\", "\\\\").replace('"', '\\"'))


def method_field(method: str) -> str:
    """The method as the request line writes it: an RFC 9110 token, anything else escaped.

    HTTP/1.1 refuses any other method before the app sees it, but an HTTP/2
    ``:method`` (h2c) is whatever bytes h2 lets through: a space, ``"``, TAB
    or ESC would forge fields or write terminal escapes into the log. Quote
    and backslash are escaped as in ``quoted_field``, control and non-ASCII
    characters as ``escape_controls`` writes them, and a space as ``\\x20``,
    so the request line keeps its three fields.
    """
    if method in COMMON_METHODS or TOKEN.fullmatch(method):
        return method
    return "".join(c if TOKEN.fullmatch(c) else _escaped(c) for c in method)


def _escaped(character: str) -> str:
    if character in '"\\':
        return "\\" + character
    if character == " ":
        return "\\x20"
    return character.encode("unicode_escape").decode("ascii")


class SecondFormatter(logging.Formatter):
    """Hypercorn's log line format, formatting each second's timestamp once."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [%(process)d] [%(levelname)s] %(message)s", TIME_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """The record's time to the second, as Hypercorn writes it."""
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime(TIME_FORMAT,
                                                              time.localtime(second))
        return self._stamp
