"""Login throttling (OWASP ASVS 6.3.1): a password can be guessed only so many times.

Every login attempt counts against two fixed windows: the typed account name
(whether or not such an account exists, so the throttle tells an attacker
nothing the dummy hash hides) and the client address (an IPv6 client per
/64, an IPv4 address embedded in an IPv6 one as that IPv4 address). The
counters go up *before* the password is checked, in one atomic step per key
that returns the new count, and only an attempt whose counts are within both
limits goes on to the password hash: 20 simultaneous guesses against a limit of 5 let
exactly 5 through, and a refused attempt costs no hash at all, so the
throttle is also cheap to hit. The address is counted first: a client past
its limit adds no counter for each new name it types, and the SQL store
deletes the rows of ended windows, so the counters kept are bounded by the
rate allowed times the window, as Redis keys are by their TTL. A successful
login clears the account's count and takes its own attempt back from the
address's: one address may serve a whole office or a carrier's customers,
whose ordinary logins must not lock each other out, while every failure
still counts. Registrations count against an address limit of their own,
since each costs a hash and its 409 answer tells whether a name is taken.

The current password typed again on the account pages
(``identity.confirm_password``) is not a login: it counts against the
address, the session that typed it and the account's confirmations, never
the account's login counter, so strangers guessing at the login form cannot
keep the owner from changing the password, ending other sessions or deleting
the account. A session may guess half as often as the login form allows
(rounded up), and all of an account's sessions together as often as the form
does: one stolen session cannot use up its owner's confirmations, and many
cannot guess without limit. Sessions are known by an HMAC of their secret.

The counters live where every worker and machine sees them: Redis when
sessions do (``SESSION_BACKEND=redis``), else the users database, so the
embedded default throttles across every Hypercorn worker too. Typed names
are stored only as an HMAC under ``SECRET_KEY``: a password typed into the
name field never reaches Redis or the database.
"""

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol

from quart import Quart, current_app
from sqlalchemy import Executable, Table, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from .passwords import HashingBusyError
from .redis_client import EXTENSION_KEY as REDIS_EXTENSION_KEY
from .redis_client import RedisBacked, shared_client
from .sessions import SessionThrottledError
from .users import DATABASE_ERRORS, UserStore, login_failures_table, username_key
from .users import EXTENSION_KEY as USERS_EXTENSION_KEY

EXTENSION_KEY: Final = "quart_app.throttle"
ACCOUNT: Final = "account"
ADDRESS: Final = "address"
NEW_SESSION: Final = "new-session"
REGISTRATION: Final = "registration"
CONFIRM_SESSION: Final = "confirm-session"
CONFIRM_ACCOUNT: Final = "confirm-account"
# The SQL store deletes the rows of ended windows at most this often (seconds).
SWEEP_EVERY: Final = 60
# An IPv6 client usually holds a whole /64: counting its addresses one by one would let it
# guess 2**64 times as often.
IPV6_PREFIX: Final = 64

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``attempts`` per fixed window of ``window`` seconds."""

    attempts: int
    window: int


@dataclass(frozen=True, slots=True)
class Count:
    """A counter just after an attempt: its new value and the seconds until its window ends."""

    count: int
    resets_in: int


class LoginThrottledError(Exception):
    """Too many attempts: refused before any password is hashed (a 429 page)."""

    def __init__(self, retry_after: int, limits: Sequence[str]) -> None:
        super().__init__(f"over the {' and '.join(limits)} limit; retry after {retry_after} s")
        self.retry_after = retry_after
        self.limits = tuple(limits)


class ThrottleStore(Protocol):
    """Where the counters live; shared by every worker, failing as its backend's outage."""

    async def hit(self, counters: Sequence[tuple[str, int]]) -> list[Count]:
        """Add one to each ``(key, window seconds)`` counter atomically and return the counts.

        A counter whose window has ended starts again at 1 with a new window,
        and the store forgets it soon after its window ends, so it holds no
        more counters than are hit in one window. A key is ``kind:…``, and
        every counter of one kind has the same window.
        """
        ...

    async def reset(self, key: str) -> None:
        """Forget one counter (a missing one is not an error)."""
        ...

    async def give_back(self, keys: Sequence[str]) -> None:
        """Take one back from each counter that still counts any (an attempt never tried)."""
        ...

    async def ping(self) -> None:
        """Raise the store's unavailable error unless it answers (``/healthz``)."""
        ...

    async def open(self) -> None:
        """Connect at start-up, inside the serving event loop."""
        ...

    async def close(self) -> None:
        """Release connections at shutdown."""
        ...


class ThrottleStoreUnavailableError(Exception):
    """The Redis that keeps the login counters did not answer: logins wait (a 503 page)."""


class SqlThrottleStore:
    """Counters in the users database's ``login_failures`` table (SQLite >= 3.35, PostgreSQL).

    One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` per key is the atomic
    increment: the database serialises concurrent upserts of one row, so no
    two attempts ever read the same count. A failure is the database's
    ``DBAPIError`` (a 503 page).

    Rows do not expire by themselves as Redis keys do: at most every
    ``SWEEP_EVERY`` seconds a hit first deletes the rows whose window has
    ended, for every kind of key this store has counted (a row does not
    record its window; its kind's is the one seen in the hits). The table
    then holds no more than the counters hit in one window and a sweep's wait.
    """

    def __init__(self, users: UserStore) -> None:
        """Keep the counters in the users database, beside the accounts."""
        self.engine = users.engine
        self._users = users
        self._windows: dict[str, int] = {}  # each kind of key seen: its window
        self._swept_at: int | None = None

    async def hit(self, counters: Sequence[tuple[str, int]]) -> list[Count]:
        """Upsert each counter in one transaction; ``time.time()`` is the clock."""
        now = int(time.time())
        for key, window in counters:
            self._windows[key.partition(":")[0]] = window
        if self._swept_at is None or not self._swept_at <= now < self._swept_at + SWEEP_EVERY:
            await self._sweep(now)
        counts = []
        async with self.engine.begin() as conn:
            for key, window in counters:
                # (Row.count would be tuple.count: unpack instead.)
                count, window_start = (await conn.execute(
                    _upsert(conn.dialect.name, key, window, now))).one()
                counts.append(Count(count, window_start + window - now))
        return counts

    async def _sweep(self, now: int) -> None:
        """Delete the rows whose window has ended, skipping any a running hit holds."""
        table = login_failures_table
        ended = or_(*(and_(func.substr(table.c.key, 1, len(kind) + 1) == kind + ":",
                           table.c.window_start <= now - window)
                      for kind, window in self._windows.items()))
        # FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite locks the whole file): never a deadlock
        # with a hit that holds one row and waits for another.
        doomed = select(table.c.key).where(ended).with_for_update(skip_locked=True)
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.key.in_(doomed)))
        self._swept_at = now

    async def reset(self, key: str) -> None:
        """Delete the counter's row."""
        table = login_failures_table
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.key == key))

    async def give_back(self, keys: Sequence[str]) -> None:
        """One ``UPDATE`` that lowers each row still above zero (atomic per row)."""
        table = login_failures_table
        async with self.engine.begin() as conn:
            await conn.execute(table.update()
                               .where(table.c.key.in_(keys), table.c.count > 0)
                               .values(count=table.c.count - 1))

    async def ping(self) -> None:
        """The users database's own check: it is the one that keeps the counters."""
        await self._users.ping()

    async def open(self) -> None:
        """Nothing to do: the user store owns the engine (and creates the table)."""

    async def close(self) -> None:
        """Nothing to do: the user store disposes of the engine."""


def _upsert(dialect: str, key: str, window: int, now: int) -> Executable:
    table: Table = login_failures_table
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    expired = table.c.window_start <= now - window
    return (
        insert(table)
        .values(key=key, count=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"count": case((expired, 1), else_=table.c.count + 1),
                  "window_start": case((expired, now), else_=table.c.window_start)},
        )
        .returning(table.c.count, table.c.window_start)
    )


# KEYS: the counters. Lowers each one still above zero, keeping its expiry.
_GIVE_BACK: Final = """
for _, key in ipairs(KEYS) do
    if tonumber(redis.call('GET', key) or '0') > 0 then
        redis.call('DECR', key)
    end
end
"""

# KEYS: the counters. ARGV: each one's window in seconds. Returns count, TTL, count, TTL, ...
_HIT: Final = """
local result = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    local ttl = redis.call('TTL', key)
    if count == 1 or ttl < 0 then
        redis.call('EXPIRE', key, ARGV[i])
        ttl = tonumber(ARGV[i])
    end
    result[#result + 1] = count
    result[#result + 1] = ttl
end
return result
"""


class RedisThrottleStore(RedisBacked):
    """Counters in Redis under ``{prefix}throttle:``: ``INCR`` and a TTL of one window.

    One Lua script per attempt counts every key at once, so no crash leaves a
    counter without its expiry; Redis forgets a counter when its window ends.
    Calls are bounded like the session store's and fail as
    ``ThrottleStoreUnavailableError`` (a 503 page that says logging in is paused).
    """

    SCRIPTS: ClassVar = {"hit": _HIT, "give_back": _GIVE_BACK}
    UNAVAILABLE = ThrottleStoreUnavailableError

    async def hit(self, counters: Sequence[tuple[str, int]]) -> list[Count]:
        """Run the script once for all the counters."""
        script = self.script("hit")
        keys = [self.key("throttle", key) for key, _ in counters]
        windows = [window for _, window in counters]
        flat = await self.call(lambda c: script(keys=keys, args=windows, client=c))
        return [Count(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def reset(self, key: str) -> None:
        """Delete the counter."""
        await self.call(lambda c: c.delete(self.key("throttle", key)))

    async def give_back(self, keys: Sequence[str]) -> None:
        """Run the script once for all the counters (``DECR`` keeps the key's TTL)."""
        script = self.script("give_back")
        names = [self.key("throttle", key) for key in keys]
        await self.call(lambda c: script(keys=names, client=c))


class Throttle:
    """The policy: which counters an attempt adds to, and when it is refused."""

    def __init__(self, store: ThrottleStore, limits: Mapping[str, Limit], secret: bytes) -> None:
        self.store = store
        self.account = limits[ACCOUNT]
        self.address = limits[ADDRESS]
        self.new_session = limits[NEW_SESSION]
        self.registration = limits[REGISTRATION]
        # A logged-in session's password confirmations: half the login form's allowance per
        # session, the form's allowance per account for all of its sessions together.
        self.confirm_session = Limit(math.ceil(self.account.attempts / 2), self.account.window)
        self.confirm_account = self.account
        self._secret = secret

    async def login_attempt(self, username: str, address: str | None) -> Count:
        """Count a login before its password check; raise ``LoginThrottledError`` past a limit.

        Returns the typed name's counter, so a failure can warn before the pause.
        """
        *_, account = await self._count([(ADDRESS, self.address_key(address), self.address),
                                          (ACCOUNT, self.account_key(username), self.account)])
        return account

    async def confirmation_attempt(self, username: str, session_secret: str | None,
                                   address: str | None) -> None:
        """Count a logged-in session's password confirmation before its check.

        The address, then the session, then the account's confirmations (not
        its logins); ``LoginThrottledError`` past a limit. A session without a
        secret (none is logged in without one) counts on the account alone.
        """
        await self._count(self._confirmation_counters(username, session_secret, address))

    async def confirmation_succeeded(self, session_secret: str | None) -> None:
        """The session knew the password: its earlier typos no longer count (the account's do)."""
        if session_secret is not None:
            await self.store.reset(self.session_key(session_secret))

    def confirmation_checked(self, username: str, session_secret: str | None,
                             address: str | None,
                             ) -> contextlib.AbstractAsyncContextManager[None]:
        """Around a counted confirmation's check: un-count it if the check never happened."""
        return self._given_back(
            [key for _, key, _ in self._confirmation_counters(username, session_secret, address)])

    def _confirmation_counters(self, username: str, session_secret: str | None,
                               address: str | None) -> list[tuple[str, str, Limit]]:
        counters = [(ADDRESS, self.address_key(address), self.address)]
        if session_secret is not None:
            counters.append(
                (CONFIRM_SESSION, self.session_key(session_secret), self.confirm_session))
        counters.append((CONFIRM_ACCOUNT, self.confirmation_account_key(username),
                         self.confirm_account))
        return counters

    async def registration_attempt(self, address: str | None) -> None:
        """Count a registration before its hash; raise ``LoginThrottledError`` past the limit."""
        await self._count([(REGISTRATION, self.registration_key(address), self.registration)])

    async def session_created(self, address: str | None) -> None:
        """Count a new anonymous server-side session; raise ``SessionThrottledError`` past it.

        Anonymous records cost the store memory until their idle timeout, so
        one address may create only so many per window (``SESSION_NEW_PER_ADDRESS``).
        """
        [count] = await self.store.hit(
            [(f"{NEW_SESSION}:{self.address_key(address)}", self.new_session.window)])
        if count.count > self.new_session.attempts:
            raise SessionThrottledError(max(1, count.resets_in))

    async def login_succeeded(self, username: str, address: str | None) -> None:
        """The account's owner is back: their earlier typos no longer count, and this login
        is taken back from the address (only failures use up a shared address's allowance)."""
        await self.store.reset(self.account_key(username))
        await self.store.give_back([self.address_key(address)])

    def login_checked(self, username: str, address: str | None,
                      ) -> contextlib.AbstractAsyncContextManager[None]:
        """Around a counted login's password check: un-count it if the check never happened.

        A full hashing queue or a database outage refuses the login before any
        password is tried; without the give-back, people obeying ``Retry-After``
        in a login storm or an outage would lock their own accounts out.
        """
        return self._given_back([self.account_key(username), self.address_key(address)])

    def registration_made(self, address: str | None,
                          ) -> contextlib.AbstractAsyncContextManager[None]:
        """Around a counted registration: un-count it if it could not be made."""
        return self._given_back([self.registration_key(address)])

    @contextlib.asynccontextmanager
    async def _given_back(self, keys: list[str]) -> AsyncIterator[None]:
        try:
            yield
        except (HashingBusyError, *DATABASE_ERRORS):
            await self.store.give_back(keys)
            raise

    def account_key(self, username: str) -> str:
        """``account:`` and an HMAC of the case-insensitive name (never the name itself)."""
        return f"{ACCOUNT}:{self._keyed(username_key(username))}"

    def confirmation_account_key(self, username: str) -> str:
        """``confirm-account:`` and the HMAC of the name, as for logins."""
        return f"{CONFIRM_ACCOUNT}:{self._keyed(username_key(username))}"

    def registration_key(self, address: str | None) -> str:
        """``registration:`` and the address as ``address_key`` counts it."""
        return f"{REGISTRATION}:{self.address_key(address)}"

    def session_key(self, session_secret: str) -> str:
        """``confirm-session:`` and an HMAC of the session's secret (never the secret)."""
        return f"{CONFIRM_SESSION}:{self._keyed(session_secret)}"

    def _keyed(self, value: str) -> str:
        data = value.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def address_key(address: str | None) -> str:
        """``address:`` and the client's IPv4 address or IPv6 /64.

        An IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``,
        as a dual-stack socket reports IPv4 clients; 6to4; Teredo's client)
        counts as that IPv4 address, and the loopback ``::1`` as itself: all
        of them lie in ``::/64`` or share a /64 with other clients.
        """
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return f"address:{address or 'unknown'}"
        if isinstance(ip, ipaddress.IPv6Address):
            teredo_client = ip.teredo[1] if ip.teredo is not None else None
            embedded = ip.ipv4_mapped or ip.sixtofour or teredo_client
            if embedded is not None:
                return f"address:{embedded}"
            if ip.is_loopback:
                return f"address:{ip}"
            return f"address:{ipaddress.ip_network(f'{ip}/{IPV6_PREFIX}', strict=False)}"
        return f"address:{ip}"

    async def _count(self, counters: Sequence[tuple[str, str, Limit]]) -> list[Count]:
        """Count one counter at a time, in order; stop at the first past its limit.

        The address comes first: a client past its limit adds no counter for
        each new name it types, so it cannot fill the store with them.
        """
        counts = []
        for name, key, limit in counters:
            [count] = await self.store.hit([(key, limit.window)])
            if count.count > limit.attempts:
                raise LoginThrottledError(max(1, count.resets_in), [name])
            counts.append(count)
        return counts


def wait_in_words(seconds: int) -> str:
    """"14 minutes": how long to wait, rounded up, for the 429 page."""
    if seconds < 60:
        amount, unit = max(1, seconds), "second"
    elif seconds < 2 * 3600:
        amount, unit = math.ceil(seconds / 60), "minute"
    else:
        amount, unit = math.ceil(seconds / 3600), "hour"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def init_app(app: Quart) -> None:
    """Keep the counters beside the sessions (Redis) or the users (SQL); tie them to serving."""
    store: ThrottleStore
    if REDIS_EXTENSION_KEY in app.extensions:  # the sessions' Redis: one client for both
        store = RedisThrottleStore(shared_client(app), app.config["SESSION_KEY_PREFIX"])
    else:
        users = app.extensions[USERS_EXTENSION_KEY]
        assert isinstance(users, UserStore)
        store = SqlThrottleStore(users)
    limits = {name: Limit(*value) for name, value in app.config["LOGIN_THROTTLE"].items()}
    limits[NEW_SESSION] = Limit(*app.config["SESSION_NEW_PER_ADDRESS"])
    app.extensions[EXTENSION_KEY] = Throttle(store, limits, app.config["SECRET_KEY"])
    app.before_serving(store.open)
    app.after_serving(store.close)


async def admit_new_session(address: str | None) -> None:
    """The session backend's question before it stores an anonymous visitor's first write."""
    await get_throttle().session_created(address)


def get_throttle() -> Throttle:
    """The current app's throttle."""
    throttle = current_app.extensions[EXTENSION_KEY]
    assert isinstance(throttle, Throttle)
    return throttle
