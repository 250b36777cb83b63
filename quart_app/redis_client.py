"""One bounded Redis client per app, shared by the session store and the login throttle.

Both keep state every worker must see, and both must fail the same way when
Redis does not answer: fast, and as their own unavailable error (a 503 page
with ``Retry-After`` that names what is down), never a hang or a 500. So the
client's construction and the bound around each call live here once, and
``init_app`` makes the one client both stores use: one connection pool per
worker, opened at start-up and closed at shutdown.

Each call is bounded: socket connect and read timeouts of ``timeout``
seconds, one immediate retry on a fresh connection after a connection
error, and ``OPERATION_TIMEOUT`` over the whole call (which also caps
redis-py's own 10 s "relaxed" timeouts during server maintenance).

The retry is what picks up a restarted Redis at the first request:
redis-py 8 speaks RESP3 with maintenance notifications on "auto", and
then skips its check of pooled connections at checkout, so a dead one
is only found by using it. A timeout is not retried: the server may
have run the command, and a creation run twice would report a
collision that never happened. No ``health_check_interval``: the
retry already covers stale connections without a PING per idle call.

``RedisBacked`` is what every store kept in Redis shares: the client, its Lua
scripts, and the key layout under ``SESSION_KEY_PREFIX`` (``{prefix}s:{id}``
records, ``{prefix}u:{user id}`` indexes, ``{prefix}throttle:{counter}``).
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from quart import Quart
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

# The most any one call may take, whatever redis-py's own timeouts and retry do.
OPERATION_TIMEOUT: Final = 2.0
EXTENSION_KEY: Final = "quart_app.redis"


class BoundedRedis:
    """A Redis client made inside the serving loop, where every failure is an outage.

    Several stores may share one: each opens and closes it, and the pool
    exists from the first ``open`` to the last ``close``.
    """

    def __init__(self, url: str, *, timeout: float = 1.0) -> None:
        self._url = url  # may hold a password: never shown
        self.timeout = timeout
        self.where = without_credentials(url)
        self._client: Redis | None = None
        self._users = 0

    async def open(self) -> None:
        """Create the client; connections open on first use, so Redis may still be down."""
        self._users += 1
        if self._client is not None:
            return
        self._client = Redis.from_url(
            self._url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
            decode_responses=True,
        )

    async def close(self) -> None:
        """Close the connection pool at shutdown, once the last store using it has closed."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def register_script(self, source: str) -> AsyncScript:
        """A Lua script run by its SHA (loaded again by itself after a Redis restart)."""
        return self._open_client().register_script(source)

    async def call(self, operation: Callable[[Redis], Awaitable[Any]],
                   unavailable: type[Exception]) -> Any:
        """Run one Redis operation within ``OPERATION_TIMEOUT``.

        Any failure is raised as ``unavailable``, the caller's own error, so
        the page and the log say which dependency failed.
        """
        client = self._open_client()
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await operation(client)
        except (RedisError, OSError, TimeoutError) as error:
            raise unavailable(
                f"Redis at {self.where} did not answer: {type(error).__name__}"
            ) from None

    def _open_client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("open() was not awaited")
        return self._client


class RedisBacked:
    """The base of a store kept in Redis: a few atomic calls, the rest is here once.

    A subclass names its Lua ``SCRIPTS`` (registered at ``open``), the
    ``UNAVAILABLE`` error its failures become, and its keys through ``key``.
    """

    SCRIPTS: ClassVar[Mapping[str, str]] = {}
    UNAVAILABLE: ClassVar[type[Exception]]

    def __init__(self, redis: BoundedRedis | str, prefix: str, *, timeout: float = 1.0) -> None:
        """``redis``: the app's shared client, or a URL for a client of this store's own."""
        self.prefix = prefix
        self._redis = redis if isinstance(redis, BoundedRedis) else BoundedRedis(
            redis, timeout=timeout)
        self._scripts: dict[str, AsyncScript] = {}

    def key(self, kind: str, name: str | int) -> str:
        """``{prefix}{kind}:{name}``: every key the app writes, so apps sharing Redis never meet."""
        return f"{self.prefix}{kind}:{name}"

    async def open(self) -> None:
        """Open the client (Redis may still be down: calls then fail as outages) and scripts."""
        await self._redis.open()
        self._scripts = {name: self._redis.register_script(source)
                         for name, source in self.SCRIPTS.items()}

    async def close(self) -> None:
        """Let go of the client; the last store to close it closes its pool."""
        await self._redis.close()

    async def ping(self) -> None:
        """``PING``: raise this store's unavailable error unless Redis answers (health checks)."""
        await self.call(lambda c: c.ping())

    def script(self, name: str) -> AsyncScript:
        """One of ``SCRIPTS``, ready to run once the store is open."""
        script = self._scripts.get(name)
        if script is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not awaited")
        return script

    async def call(self, operation: Callable[[Redis], Awaitable[Any]]) -> Any:
        """Run one bounded operation; any failure is this store's ``UNAVAILABLE`` error."""
        return await self._redis.call(operation, self.UNAVAILABLE)


def init_app(app: Quart) -> None:
    """Make the app's one Redis client when a store will use it (``SESSION_BACKEND=redis``)."""
    if app.config["SESSION_BACKEND"] == "redis":
        app.extensions[EXTENSION_KEY] = BoundedRedis(app.config["REDIS_URL"])


def shared_client(app: Quart) -> BoundedRedis:
    """The app's Redis client, made by ``init_app``."""
    client = app.extensions[EXTENSION_KEY]
    assert isinstance(client, BoundedRedis)
    return client


def without_credentials(url: str) -> str:
    """The URL's scheme, host, port and path only: never a password in a log line."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or 'localhost'}{port}{parts.path}"
