"""The access log: one line per request, in the format Hypercorn's ``hypercorn.toml`` line had."""

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import h2.config
import h2.connection
import h2.events
import pytest
import time_machine

from quart_app.access_log import AccessLog, SecondFormatter

from .live_server import LiveServer, live_server

type Message = MutableMapping[str, Any]

PID = os.getpid()
ANSWER_TIMEOUT: Final = 10.0


def scope(path: str = "/profile", query: bytes = b"", agent: bytes | None = b"agent/1.0",
          kind: str = "http") -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000")]
    if agent is not None:
        headers.append((b"user-agent", agent))
    return {"type": kind, "http_version": "1.1", "method": "GET", "path": path,
            "query_string": query, "headers": headers, "client": ("127.0.0.1", 5000)}


def page(status: int = 200, body: bytes = b"hello", length: bool = True,
         ) -> Callable[..., Awaitable[None]]:
    async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        headers = [(b"content-length", str(len(body)).encode())] if length else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    return app


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Lines:
    handler = Lines()
    logger = logging.getLogger("test_access_log")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


async def serve(app: Callable[..., Awaitable[None]], request: dict[str, Any],
                lines: Lines) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await AccessLog(app, logging.getLogger("test_access_log"))(
        request, receive, send)  # type: ignore[arg-type]
    return sent


async def test_each_request_is_one_line_client_request_status_bytes_micros_pid_agent(
    lines: Lines,
) -> None:
    await serve(page(200, b"hello"), scope(), lines)
    assert len(lines.lines) == 1
    assert re.fullmatch(
        rf'127\.0\.0\.1:5000 "GET /profile 1\.1" 200 5 \d+us <{PID}> "agent/1\.0"', lines.lines[0])


async def test_the_response_passes_through_unchanged(lines: Lines) -> None:
    sent = await serve(page(404, b"gone"), scope(), lines)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 404
    assert sent[1]["body"] == b"gone"


async def test_the_query_string_is_not_logged(lines: Lines) -> None:
    await serve(page(), scope("/login", query=b"next=/profile&token=secret"), lines)
    assert '"GET /login 1.1"' in lines.lines[0]
    assert "secret" not in lines.lines[0]


@pytest.mark.parametrize(
    ("request_scope", "app", "expected"),
    [
        pytest.param(scope(agent=None), page(), '"-"', id="no-user-agent"),
        pytest.param(scope(), page(length=False), " 200 - ", id="no-content-length"),
    ],
)
async def test_a_missing_field_is_a_dash(lines: Lines, request_scope: dict[str, Any],
                                         app: Callable[..., Awaitable[None]],
                                         expected: str) -> None:
    await serve(app, request_scope, lines)
    assert expected in lines.lines[0]


async def test_a_request_the_app_fails_is_logged_as_500(lines: Lines) -> None:
    async def failing(*_: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await serve(failing, scope(), lines)
    assert ' "GET /profile 1.1" 500 - ' in lines.lines[0]


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
async def test_only_http_requests_are_logged(lines: Lines, kind: str) -> None:
    called = asyncio.Event()

    async def app(*_: object) -> None:
        called.set()

    await serve(app, scope(kind=kind), lines)
    assert called.is_set()
    assert lines.lines == []


def test_lines_carry_hypercorns_time_pid_and_level(
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    time_machine.move_to(datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC), tick=False)
    record = logging.LogRecord("quart_app.access", logging.INFO, __file__, 1,
                               'x "GET / 1.1" 200 5 9us', None, None)
    formatted = SecondFormatter().format(record)
    stamp = datetime.fromtimestamp(record.created).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    assert formatted == f'[{stamp}] [{PID}] [INFO] x "GET / 1.1" 200 5 9us'


@pytest.mark.parametrize(("path", "agent"), [
    ("/\n[2026-01-01 00:00:00 +0000] [1] [INFO] forged", b"agent/1.0"),
    ("/a\rb", b"agent/1.0"),
    ("/\u2028next", b"agent/1.0"),
    ("/profile", b"agent\x1b[31m/1.0"),
])
async def test_control_characters_from_the_client_cannot_forge_a_line(
    lines: Lines, path: str, agent: bytes,
) -> None:
    await serve(page(), scope(path, agent=agent), lines)
    [line] = lines.lines
    assert line.isprintable()
    assert "\\" in line  # written as an escape, not dropped


async def test_the_path_is_logged_as_the_client_sent_it_when_the_server_gives_it(
    lines: Lines,
) -> None:
    request = {**scope("/a\nb"), "raw_path": b"/a%0Ab"}
    await serve(page(), request, lines)
    assert '"GET /a%0Ab 1.1"' in lines.lines[0]


@pytest.mark.parametrize(("agent", "written"), [
    (b'x" 500 0 1us <1> "y', r'x\" 500 0 1us <1> \"y'),
    (b"back\\nslash", r"back\\nslash"),
])
async def test_a_quote_or_backslash_from_the_client_cannot_forge_a_field(
    lines: Lines, agent: bytes, written: str,
) -> None:
    await serve(page(), scope(agent=agent), lines)
    [line] = lines.lines
    assert line.endswith(f'<{PID}> "{written}"')
    assert line.count('"') - line.count('\\"') == 4  # the request line's quotes and the agent's


@pytest.mark.parametrize(("method", "written"), [
    pytest.param("GET /forged 1.1", r"GET\x20/forged\x201.1", id="space"),
    pytest.param('GET" 200 5 1us <1> "x', r'GET\"\x20200\x205\x201us\x20<1>\x20\"x', id="quote"),
    pytest.param("GET\t/x", r"GET\t/x", id="tab"),
    pytest.param("GET\x1b[1A\x1b[2K", r"GET\x1b[1A\x1b[2K", id="escape"),
    pytest.param("GET\n[2026-01-01 00:00:00 +0000] [1] [INFO] forged",
                 r"GET\n[2026-01-01\x2000:00:00\x20+0000]\x20[1]\x20[INFO]\x20forged",
                 id="newline"),
    pytest.param("G\u00c9T\u2028", r"G\xc9T\u2028", id="non-ascii"),
    pytest.param("BACK\\SLASH", r"BACK\\SLASH", id="backslash"),
])
async def test_a_method_that_is_not_a_token_is_escaped_in_the_request_line(
    lines: Lines, method: str, written: str,
) -> None:
    # HTTP/1.1 parsers refuse such a method, but an HTTP/2 :method is any bytes h2 passes.
    await serve(page(), {**scope(), "method": method}, lines)
    [line] = lines.lines
    assert line.isprintable()
    assert line.isascii()
    assert f' "{written} /profile 1.1" 200 5 ' in line
    assert line.count('"') - line.count('\\"') == 4  # the request line's quotes and the agent's
    assert len(line.split('"')[1].split(" ")) + line.count("\\x20") > 0
    assert line.split(" ")[1:3] == [f'"{written}', "/profile"]


@pytest.mark.parametrize("method", ["GET", "PROPFIND", "M-SEARCH", "X_CUSTOM.1~"])
async def test_a_token_method_is_written_as_it_is(lines: Lines, method: str) -> None:
    await serve(page(), {**scope(), "method": method}, lines)
    assert f' "{method} /profile 1.1" ' in lines.lines[0]


# What h2 lets through in a :method (it refuses NUL, CR and LF, and Hypercorn refuses non-ASCII),
# with how the log must write it once Hypercorn has upper-cased it.
H2C_METHODS: Final = {
    b"GET /forged 2": r"GET\x20/FORGED\x202",
    b'GET" 200 5 1us <1> "x': r'GET\"\x20200\x205\x201US\x20<1>\x20\"X',
    b"GET\t/x": r"GET\t/X",
    b"GET\x1b[1A\x1b[2K": r"GET\x1b[1A\x1b[2K",
}


@pytest.mark.server
async def test_an_h2c_method_cannot_forge_fields_or_write_terminal_escapes(
    tmp_path: Path,
) -> None:
    async with live_server(tmp_path / "instance", workers=1) as server:
        statuses = await h2c_requests(server, list(H2C_METHODS))
        await server.wait_for_output(
            lambda: sum(" /profile 2" in line for line in server.output) == len(H2C_METHODS))
    assert all(status.isdigit() for status in statuses)
    logged = [line for line in server.output if " /profile 2" in line]
    for line in logged:
        assert line.isprintable()
        assert line.count('"') - line.count('\\"') == 4, line
        assert line.endswith('"probe/1"')
    assert sorted(line.split('"', 1)[1].split(" ")[0] for line in logged) == sorted(
        H2C_METHODS.values())


async def h2c_requests(server: LiveServer, methods: list[bytes]) -> list[str]:
    """GET-like requests for /profile with these methods, one stream each over h2c; statuses."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
    conn.initiate_connection()
    for method in methods:
        conn.send_headers(conn.get_next_available_stream_id(), [
            (b":method", method), (b":path", b"/profile"), (b":scheme", b"http"),
            (b":authority", b"127.0.0.1"), (b"user-agent", b"probe/1"),
        ], end_stream=True)
    writer.write(conn.data_to_send())
    statuses: list[str] = []
    ended = 0
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while ended < len(methods):
                data = await reader.read(65536)
                if not data:
                    raise AssertionError(f"connection closed after {statuses}")
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        statuses.append(dict(event.headers)[b":status"].decode())
                    elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                        ended += 1
                writer.write(conn.data_to_send())
    finally:
        writer.close()
    return statuses
