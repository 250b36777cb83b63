"""Real outages for tests: a service becomes unreachable, then comes back on its own address.

``TcpProxy`` stands between the app and a real server (PostgreSQL, Redis) on a
port of its own. Stopping it refuses new connections and cuts the open ones,
as a crashed or partitioned server would; starting it again on the same port
is the server coming back. The app is never told.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from quart_app.users import UserStore


@dataclass
class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target`` while running."""

    target_host: str
    target_port: int
    port: int = 0
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._flowing.set()

    def freeze(self) -> None:
        """Keep every connection open but forward nothing: a server that hangs."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again."""
        self._flowing.set()

    async def start(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _forward(self, client_in: asyncio.StreamReader,
                       client_out: asyncio.StreamWriter) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(
                self.target_host, self.target_port)
        except OSError:
            client_out.transport.abort()
            return
        self._open.update({client_out, server_out})
        try:
            await asyncio.gather(self._pipe(client_in, server_out),
                                 self._pipe(server_in, client_out))
        finally:
            for writer in (client_out, server_out):
                self._open.discard(writer)
                writer.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.transport.abort()


@contextlib.asynccontextmanager
async def proxied(url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """``url`` rewritten to pass through a running proxy, and the proxy."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    proxy = TcpProxy(parts.hostname, parts.port)
    await proxy.start()
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    try:
        yield parts._replace(netloc=netloc).geturl(), proxy
    finally:
        if proxy._server is not None:
            await proxy.stop()


@dataclass
class SqliteOutage:
    """A SQLite database kept in ``folder`` becomes unreachable: the folder moves away."""

    store: UserStore
    folder: Path

    async def start(self) -> None:
        """Close pooled connections, then make the file unreachable for new ones."""
        await self.store.close()
        self.folder.rename(self.folder.with_name(self.folder.name + "-away"))

    async def end(self) -> None:
        """Put the file back; the app must recover on its own."""
        self.folder.with_name(self.folder.name + "-away").rename(self.folder)


@dataclass
class ProxyOutage:
    """A server behind ``proxy`` goes away (connections cut) and comes back."""

    proxy: TcpProxy

    async def start(self) -> None:
        """Cut every connection and refuse new ones."""
        await self.proxy.stop()

    async def end(self) -> None:
        """Accept connections again on the same port."""
        await self.proxy.start()
