"""Real outages for tests: a service becomes unreachable, then comes back on its own address.

``TcpProxy`` stands between the app and a real server (PostgreSQL, Redis) on a
port of its own. Stopping it refuses new connections and cuts the open ones,
as a crashed or partitioned server would; starting it again on the same port
is the server coming back. Freezing it is a server that hangs, cutting the
next command one that restarts mid-command, and with no server behind it, it
is one that accepts and never answers. The app is never told.
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
    """Forward 127.0.0.1:``port`` to ``target_host:target_port`` while running.

    With no target it forwards nowhere: it accepts connections, reads whatever
    comes and never answers, as a hung server does. ``connections`` counts the
    connections it has accepted.
    """

    target_host: str | None = None
    target_port: int = 0
    port: int = 0
    connections: int = 0
    cut: bool = False
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

    def cut_next(self) -> None:
        """Drop what a client sends next unanswered, and cut its connection and the server's.

        That is a server restarting between the moment a pooled connection is
        checked and the moment its command is read.
        """
        self.cut = True

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
        self.connections += 1
        self._open.add(client_out)
        try:
            if self.target_host is None:
                with contextlib.suppress(ConnectionError, OSError):
                    while await client_in.read(65536):
                        pass
                return
            try:
                server_in, server_out = await asyncio.open_connection(
                    self.target_host, self.target_port)
            except OSError:
                return
            self._open.add(server_out)
            try:
                await asyncio.gather(self._pipe(client_in, server_out, client=client_out),
                                     self._pipe(server_in, client_out))
            finally:
                self._open.discard(server_out)
                server_out.transport.abort()
        finally:
            self._open.discard(client_out)
            client_out.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    client: asyncio.StreamWriter | None = None) -> None:
        """Copy ``source`` to ``sink``; from a ``client``, a pending cut drops both sockets."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                if client is not None and self.cut:
                    self.cut = False
                    client.transport.abort()
                    break
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
