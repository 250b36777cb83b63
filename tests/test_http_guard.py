"""Body limits and request framing, over real sockets to Hypercorn from ``hypercorn.toml``.

Each test speaks the protocol by hand (raw HTTP/1.1, or frames through the
``h2`` state machine) because the point is what the server does before a
body ends: a client library would finish sending first.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import h2.config
import h2.connection
import h2.events
import pytest
from quart.typing import TestClientProtocol as Client

from .conftest import SECRET_KEY
from .live_server import LiveServer, live_server

LIMIT: Final = 64 * 1024  # MAX_CONTENT_LENGTH's documented default
ANSWER_TIMEOUT: Final = 10.0
FORM_HEAD: Final = (
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: same-origin\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """One worker is enough: these tests are about a single connection."""
    async with live_server(tmp_path / "instance", {"QUART_SECRET_KEY": SECRET_KEY},
                           workers=1) as running:
        yield running


async def exchange(server: LiveServer, request: bytes) -> bytes:
    """Send ``request`` (possibly an unfinished one) and read until the server closes."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(ANSWER_TIMEOUT):
            return await reader.read()
    finally:
        writer.close()


def chunked(size: int) -> bytes:
    """``size`` bytes of form body as 4 KiB chunks, without the final zero-length chunk."""
    chunk = b"a" * 4096
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(size // len(chunk)))


@pytest.mark.server
async def test_chunked_body_over_the_limit_is_refused_before_it_ends(server: LiveServer) -> None:
    answer = await exchange(
        server, FORM_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(LIMIT + 8192)
    )
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 413 ")
    assert b"\r\nconnection: close" in head
    assert b"<h1>That was too large</h1>" in answer


@pytest.mark.server
async def test_chunked_body_under_the_limit_reaches_the_app(server: LiveServer) -> None:
    body = b"username=alice&password=x"
    answer = await exchange(
        server,
        FORM_HEAD + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
    )
    # The CSRF check read the form and found no token; this same-origin form came back.
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"This form had expired" in answer


@pytest.mark.server
async def test_declared_length_over_the_limit_is_refused_without_reading_the_body(
    server: LiveServer,
) -> None:
    answer = await exchange(server, FORM_HEAD + b"Content-Length: %d\r\n\r\n" % (LIMIT + 1))
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nconnection: close" in answer.lower()


@pytest.mark.server
async def test_content_length_with_transfer_encoding_is_400_and_closed(
    server: LiveServer,
) -> None:
    answer = await exchange(
        server,
        FORM_HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nconnection: close" in answer.lower()
    assert answer.count(b"HTTP/1.1 ") == 1, "the smuggled second request must not be served"


@pytest.mark.server
async def test_http2_body_over_the_limit_is_refused_before_it_ends(server: LiveServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=ANSWER_TIMEOUT) as sock:
        status = await asyncio.to_thread(http2_status_of_unfinished_upload, sock)
    assert status == "413"


def http2_status_of_unfinished_upload(sock: socket.socket) -> str:
    """Upload more than the limit on one stream, never ending it; return the :status seen."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [
        (":method", "POST"), (":path", "/login"), (":scheme", "http"),
        (":authority", "127.0.0.1"), ("sec-fetch-site", "same-origin"),
        ("content-type", "application/x-www-form-urlencoded"),
    ])
    sock.sendall(conn.data_to_send())
    unsent = LIMIT + 8192
    while True:
        while (size := min(unsent, conn.local_flow_control_window(1),
                           conn.max_outbound_frame_size)) > 0:
            conn.send_data(1, b"a" * size)
            unsent -= size
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)  # a window update, or the answer
        if not data:
            raise AssertionError("connection closed without a response")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                return dict(event.headers)[b":status"].decode()
        sock.sendall(conn.data_to_send())


async def test_oversized_body_is_413_in_the_sites_layout(client: Client) -> None:
    response = await client.post("/login", form={"username": "a" * 70_000, "password": "x"})
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert '<a class="brand" href="/">Sessions</a>' in await response.get_data(as_text=True)
