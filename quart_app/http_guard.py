"""Request framing guards in front of the app: body size and ambiguous length.

Quart checks ``MAX_CONTENT_LENGTH`` against the ``Content-Length`` header only
and queues every received chunk without limit, so a chunked (HTTP/1.1) or
HTTP/2 body with no declared length would be buffered whole before any view
could refuse it. This guard counts the bytes while they arrive and answers
413 the moment the limit is crossed, closing the connection instead of
reading on. It also refuses a request that carries both ``Content-Length``
and ``Transfer-Encoding`` (RFC 9112 §6.1: the framing of such a request is
ambiguous, the raw material of request smuggling).
"""

from collections.abc import Iterable
from typing import Final

from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from quart import Quart
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from .security import SECURITY_HEADER_LIST, ASGIApp
from .templating import render

FALLBACK_PAGE: Final = b"<!doctype html><title>Refused</title><h1>Refused</h1>"
DISCONNECT: Final[ASGIReceiveEvent] = {"type": "http.disconnect"}


class RequestGuard:
    """ASGI middleware: size-limit every body while it streams; refuse CL+TE.

    ``pages`` maps a status to the HTML shown with it (the site's error page,
    rendered once at start-up); ``headers`` are sent with every refusal.
    """

    def __init__(self, app: ASGIApp, max_body: int | None,
                 headers: Iterable[tuple[str, str]]) -> None:
        self.app = app
        self.max_body = max_body
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers]
        self.pages: dict[int, bytes] = {}

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable,
                       send: ASGISendCallable) -> None:
        """Pass the request on, unless its framing is refused before or while it streams."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        names = [name for name, _ in scope["headers"]]
        if b"transfer-encoding" in names and b"content-length" in names:
            await self.refuse(send, 400)
            return
        if self.max_body is None:
            await self.app(scope, receive, send)
            return
        if _declared_length(scope["headers"]) > self.max_body:
            await self.refuse(send, 413)
            return
        await self._counted(scope, receive, send, self.max_body)

    async def _counted(self, scope: Scope, receive: ASGIReceiveCallable,
                       send: ASGISendCallable, limit: int) -> None:
        received = 0
        refused = False
        response_started = False

        async def counting_receive() -> ASGIReceiveEvent:
            nonlocal received, refused
            if refused:
                return DISCONNECT
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not response_started:
                        await self.refuse(send, 413)
                    return DISCONNECT
            return message

        async def guarded_send(message: ASGISendEvent) -> None:
            nonlocal response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def refuse(self, send: ASGISendCallable, status: int) -> None:
        """Answer with the error page and close: the rest of the body is never read."""
        page = self.pages.get(status, FALLBACK_PAGE)
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(page)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
                *self.headers,
            ],
            "trailers": False,
        })
        await send({"type": "http.response.body", "body": page, "more_body": False})


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The ``Content-Length`` a request declares, 0 when it declares none."""
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


REFUSALS: Final[tuple[HTTPException, ...]] = (
    BadRequest("This request's length is ambiguous (Content-Length and Transfer-Encoding)."),
    RequestEntityTooLarge("This request is larger than this site accepts."),
)


def guard_requests(app: Quart, inner: ASGIApp) -> RequestGuard:
    """Guard ``inner`` (the app's outermost layer), its pages rendered in the site's layout.

    The pages are made once at start-up: a refusal is answered before Quart
    sees the request, so it cannot render one then.
    """
    guard = RequestGuard(inner, app.config["MAX_CONTENT_LENGTH"], SECURITY_HEADER_LIST)

    @app.before_serving
    async def render_refusal_pages() -> None:
        async with app.test_request_context("/"):
            for error in REFUSALS:
                page = render("error.html", error=error)
                guard.pages[error.code or 400] = page.encode()

    return guard
