"""The user store: accounts in SQL through SQLAlchemy's async Core.

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg) the
scale-out choice; only ``DATABASE_URL`` differs. Each user carries a session
version: bumping it ends every session that recorded the old one, in any
backend, which is how a password change logs out everywhere.
"""

import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Final

from quart import Quart, current_app
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateTable

from .passwords import PasswordHasher
from .user_cache import UserCache

# A username's limits, written once: the database column, the pages' checks and the forms'
# ``maxlength`` and ``pattern`` attributes (given to templates as ``limits``) all read them.
USERNAME_MAX_LENGTH: Final = 64
USERNAME_FORM_PATTERN: Final = rf"[A-Za-z0-9._\-]{{1,{USERNAME_MAX_LENGTH}}}"
USERNAME_PATTERN: Final = re.compile(USERNAME_FORM_PATTERN)
EXTENSION_KEY: Final = "quart_app.users"
SCHEMA_LOCK: Final = 0x71756172  # any constant; "quar"
# Seconds asyncpg waits to connect, and for each statement, before a database that does not
# answer is an outage (our statements are single-row lookups and updates: milliseconds).
QUERY_TIMEOUT: Final = 3.0
# What a database outage raises: the driver's errors, and asyncpg's timeouts, which SQLAlchemy
# passes through unwrapped (a statement, or the pool's check of a connection).
DATABASE_ERRORS: Final = (DBAPIError, TimeoutError)
log = logging.getLogger(__name__)

metadata = MetaData()
# Ids are never reused: a session names its user by id and session version, and a new account
# starts at version 1, so a deleted user's id given to the next registration would hand the
# deleted user's cookies the new account. SQLite reuses the highest id unless the table is
# AUTOINCREMENT; PostgreSQL's SERIAL sequence never goes back.
users_table = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(USERNAME_MAX_LENGTH), nullable=False),
    Column("username_key", String(USERNAME_MAX_LENGTH), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("session_version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)
# Login throttle counters (``throttle.SqlThrottleStore``): created with the user schema so the
# embedded default throttles across every worker sharing the database.
login_failures_table = Table(
    "login_failures",
    metadata,
    Column("key", Text, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
)
# Why each user's sessions last ended together (a password change, "log out everywhere"): a
# signed cookie from before carries an older session version, and its device is told this
# reason. One row per user, the latest; created beside the users by ``create_all``.
session_endings_table = Table(
    "session_endings",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("session_version", Integer, nullable=False),
    Column("ending", String(32), nullable=False),
)


@dataclass(frozen=True, slots=True)
class User:
    """What the app needs to know about an account on every request."""

    id: int
    username: str
    session_version: int


class UsernameTakenError(Exception):
    """Registration asked for a name that exists (names are case-insensitive)."""


def username_problem(username: str) -> str | None:
    """Say what is wrong with a new username, or None; a safe set keeps names unambiguous."""
    if not USERNAME_PATTERN.fullmatch(username):
        return (f"Username must be 1 to {USERNAME_MAX_LENGTH} characters: letters, digits, "
                "'.', '_' or '-'.")
    return None


def typed_username(raw: str) -> str:
    """A name as a form sent it, without the spaces phone keyboards and autofill add around it
    (never inside: such a name is refused as it would be without them)."""
    return raw.strip()


def username_key(username: str) -> str:
    """The case-insensitive form that makes 'Alice' and 'alice' the same account."""
    return username.lower()


class UserStore:
    """Accounts, password checks and session versions behind one small async API."""

    def __init__(self, engine: AsyncEngine, hasher: PasswordHasher,
                 cache: UserCache | None = None) -> None:
        self.engine = engine
        self.hasher = hasher
        self.cache = cache or UserCache(ttl=0)

    async def create_schema(self) -> None:
        """Create the tables if they are missing; safe to run from every worker at once.

        ``create_all`` checks first and creates second, which two workers starting
        together can interleave; ``IF NOT EXISTS`` lets the database decide instead.
        PostgreSQL's ``IF NOT EXISTS`` is itself racy (two creators collide on the
        table's row type), so there the workers take turns under an advisory lock.
        """
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": SCHEMA_LOCK})
            for table in metadata.sorted_tables:
                await conn.execute(CreateTable(table, if_not_exists=True))

    async def reuses_ids(self) -> bool:
        """Whether this is a SQLite users table from before ids stopped being reused.

        ``CREATE TABLE IF NOT EXISTS`` leaves such a table as it is, so its
        deleted users' ids (and their cookies) could go to new accounts.
        """
        if self.engine.dialect.name != "sqlite":
            return False
        async with self.engine.connect() as conn:
            sql = (await conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'"))).scalar()
        return isinstance(sql, str) and "AUTOINCREMENT" not in sql.upper()

    async def stop_reusing_ids(self) -> None:
        """Rebuild a legacy SQLite users table with ``AUTOINCREMENT``, every row and id kept.

        One transaction that takes the write lock first (``BEGIN IMMEDIATE``);
        ``quart db init`` runs it, alone, before the workers start.
        """
        columns = ", ".join(column.name for column in users_table.columns)
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.exec_driver_sql("ALTER TABLE users RENAME TO users_reusing_ids")
            await conn.execute(CreateTable(users_table))
            await conn.exec_driver_sql(
                f"INSERT INTO users ({columns}) SELECT {columns} FROM users_reusing_ids")  # noqa: S608 - our own column names
            await conn.exec_driver_sql("DROP TABLE users_reusing_ids")
            await conn.commit()

    async def ping(self) -> None:
        """Raise if the database does not answer (health checks)."""
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    async def close(self) -> None:
        """Release pooled connections at shutdown."""
        await self.engine.dispose()

    async def get(self, user_id: int) -> User | None:
        """Load a user by id: the check on every logged-in request, cached briefly."""
        return await self.cache.get(user_id, self._load)

    async def get_fresh(self, user_id: int) -> User | None:
        """Load a user by id from the database itself, past this worker's cache.

        For when a session knows better than the cache: it carries a session
        version newer than the one remembered (another worker changed it).
        """
        self.cache.forget(user_id)
        return await self.get(user_id)

    async def _load(self, user_id: int) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_SELECT_BY_ID, {"user_id": user_id})).first()
        return User(*row) if row else None

    async def find(self, username: str) -> User | None:
        """Load a user by name, case-insensitively."""
        row = await self._row_by_name(username)
        return User(row.id, row.username, row.session_version) if row else None

    async def list_users(self) -> list[User]:
        """Every user, by name, for the operator's CLI."""
        query = select(users_table.c.id, users_table.c.username,
                       users_table.c.session_version).order_by(users_table.c.username_key)
        async with self.engine.connect() as conn:
            return [User(*row) for row in await conn.execute(query)]

    async def create(self, username: str, password: str) -> User:
        """Add an account; the caller has validated name and password."""
        password_hash = await self.hasher.hash(password)
        values = {
            "username": username,
            "username_key": username_key(username),
            "password_hash": password_hash,
            "created_at": int(time.time()),
        }
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(insert(users_table).values(**values))
        except IntegrityError:
            raise UsernameTakenError(username) from None
        user_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        assert isinstance(user_id, int)
        return User(user_id, username, 1)

    async def authenticate(self, username: str, password: str) -> User | None:
        """Check a login; unknown names cost one dummy verify so they look like wrong passwords.

        A hash made with older parameters is replaced while the password is at hand. A name
        no account can have (a NUL byte, say, which PostgreSQL would refuse) is not looked up.
        """
        row = await self._row_by_name(username) if username_problem(username) is None else None
        if row is None:
            await self.hasher.verify_dummy(password)
            return None
        if not await self.hasher.verify(row.password_hash, password):
            return None
        if self.hasher.needs_rehash(row.password_hash):
            await self._store_hash(row.id, await self.hasher.hash(password))
        return User(row.id, row.username, row.session_version)

    async def set_password(self, username: str, password: str, *,
                           ending: str) -> User | None:
        """Change a password and end every session of that user, for ``ending``'s reason."""
        row = await self._row_by_name(username)
        if row is None:
            return None
        password_hash = await self.hasher.hash(password)
        async with self.engine.begin() as conn:
            version = (await conn.execute(
                update(users_table)
                .where(users_table.c.id == row.id)
                .values(password_hash=password_hash,
                        session_version=users_table.c.session_version + 1)
                .returning(users_table.c.session_version)
            )).scalar_one()
            await _record_ending(conn, row.id, version, ending)
        self.cache.forget(row.id)
        return User(row.id, row.username, version)

    async def bump_session_version(self, user_id: int, ending: str) -> User | None:
        """End every session of a user without touching the password ("log out everywhere"),
        remembering ``ending`` as the reason the older sessions' devices are told."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                update(users_table)
                .where(users_table.c.id == user_id)
                .values(session_version=users_table.c.session_version + 1)
                .returning(users_table.c.id, users_table.c.username,
                           users_table.c.session_version)
            )).first()
            if row is not None:
                await _record_ending(conn, user_id, row.session_version, ending)
        self.cache.forget(user_id)
        return User(*row) if row else None

    async def ending_since(self, user_id: int, session_version: int) -> str | None:
        """Why a session of this version no longer counts: the reason recorded with the
        latest version bump after it, or None if none was recorded (an older release's)."""
        table = session_endings_table
        async with self.engine.connect() as conn:
            ending: str | None = (await conn.execute(
                select(table.c.ending).where(table.c.user_id == user_id,
                                             table.c.session_version > session_version)
            )).scalar_one_or_none()
        return ending

    async def delete(self, username: str) -> bool:
        """Remove an account; its sessions fail the per-request lookup from then on."""
        async with self.engine.begin() as conn:
            user_id = (await conn.execute(
                users_table.delete()
                .where(users_table.c.username_key == username_key(username))
                .returning(users_table.c.id)
            )).scalar_one_or_none()
            if user_id is not None:
                await conn.execute(session_endings_table.delete()
                                   .where(session_endings_table.c.user_id == user_id))
        if user_id is None:
            return False
        self.cache.forget(user_id)
        return True

    async def _row_by_name(self, username: str) -> Any:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(users_table).where(users_table.c.username_key == username_key(username))
            )
            return result.first()

    async def _store_hash(self, user_id: int, password_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(users_table)
                .where(users_table.c.id == user_id)
                .values(password_hash=password_hash)
            )


async def _record_ending(conn: AsyncConnection, user_id: int, version: int, ending: str) -> None:
    """Keep ``ending`` as the reason sessions older than ``version`` ended (one row a user)."""
    table = session_endings_table
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert_(table).values(user_id=user_id, session_version=version,
                                             ending=ending)
                       .on_conflict_do_update(index_elements=[table.c.user_id],
                                              set_={"session_version": version,
                                                    "ending": ending}))


_SELECT_BY_ID: Final = select(
    users_table.c.id, users_table.c.username, users_table.c.session_version
).where(users_table.c.id == bindparam("user_id"))


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL and a busy timeout let several Hypercorn workers share one SQLite file.

    Switching to WAL needs a moment alone with the file and SQLite refuses it
    at once, without waiting, while another worker holds it. WAL is stored in
    the file, so whichever connection succeeds sets it for everyone; a refusal
    here is left for the next connection to retry.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        log.debug("SQLite busy; WAL mode left for the next connection to set")
    cursor.close()


# SQLite's answers that mean the file under a connection failed (the disk, or a filesystem the
# kernel turned read-only after an error), not the statement: see _reopen_after_file_errors.
_FILE_ERRORS: Final = ("SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


def _reopen_after_file_errors(context: ExceptionContext) -> None:
    """Treat a failed SQLite file like a dropped connection: the pool opens new ones.

    A pooled connection keeps the file it opened. When its filesystem fails
    (remounted read-only after a disk error, then repaired and mounted again),
    it would fail, or read the old copy, for the worker's life; counted as a
    disconnect, every pooled connection is replaced at its next checkout, so
    the app uses the repaired file without a restart. A full disk
    (``SQLITE_FULL``) leaves the connection sound and is not counted.
    """
    name = getattr(context.original_exception, "sqlite_errorname", "")
    if name.startswith(_FILE_ERRORS):
        context.is_disconnect = True


def _connect_or_database_error(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Make a connection that cannot be made a database error, as a query's failure is.

    SQLAlchemy's asyncpg adapter lets the driver's ``OSError`` (refused, reset,
    unreachable, timed out) escape unwrapped, which no ``DBAPIError`` handler
    sees: a stopped PostgreSQL would answer 500 instead of the outage's 503.
    """
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:
        raise dialect.loaded_dbapi.OperationalError(
            f"cannot connect: {type(error).__name__}: {error}") from error


def build_store(database_url: str, hasher: PasswordHasher | None = None,
                cache_ttl: float = 0) -> UserStore:
    """Create the engine (it connects lazily, inside the serving loop) and the store.

    ``pool_pre_ping``: after the database restarts, every pooled connection is
    dead and nothing says so; checked at checkout (one round trip), each is
    replaced there, instead of failing a request per connection after the
    database is back. On PostgreSQL, connecting and every statement are bounded
    by ``QUERY_TIMEOUT``: a server that hangs (frozen, or a network that drops
    packets) costs a bounded wait and a 503, not a request held for minutes.
    """
    backend = make_url(database_url).get_backend_name()
    bounded = {"timeout": QUERY_TIMEOUT, "command_timeout": QUERY_TIMEOUT}
    engine = create_async_engine(database_url, pool_pre_ping=True,
                                 connect_args=bounded if backend == "postgresql" else {})
    event.listen(engine.sync_engine, "do_connect", _connect_or_database_error)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        event.listen(engine.sync_engine, "handle_error", _reopen_after_file_errors)
    return UserStore(engine, hasher or PasswordHasher(), UserCache(cache_ttl))


def init_app(app: Quart) -> None:
    """Attach the store and tie its schema and connections to the serving lifecycle."""
    hasher = PasswordHasher(
        app.config["PASSWORD_HASH_PARAMETERS"],
        concurrency=app.config["PASSWORD_HASH_CONCURRENCY"],
        max_waiting=app.config["PASSWORD_HASH_QUEUE"],
    )
    store = build_store(app.config["DATABASE_URL"], hasher, app.config["USER_CACHE_TTL"])
    app.extensions[EXTENSION_KEY] = store

    @app.before_serving
    async def prepare_store() -> None:
        await store.create_schema()
        if await store.reuses_ids():
            log.warning("the users table reuses deleted accounts' ids, so a deleted user's "
                        "cookie could log in as the next account: run `quart db init` once")
        await store.hasher.warm_up()

    @app.after_serving
    async def close_store() -> None:
        await store.close()
        hasher.close()


def get_store() -> UserStore:
    """The current app's user store."""
    store = current_app.extensions[EXTENSION_KEY]
    assert isinstance(store, UserStore)
    return store
