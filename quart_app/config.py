"""Configuration: one table of settings, the loading order and start-up validation.

Every key an operator can set is one row of ``SETTINGS``: its default, the
parser that turns a raw value into the normalised one (or refuses it with one
line that names the key), the default as the README shows it, and the line
that documents it. ``DEFAULTS`` and the README's table (``markdown_table``)
are derived from the rows, so a key cannot be added without being validated
and documented. ``NOT_OFFERED`` lists the keys refused on purpose.

``load_config`` layers the defaults, an optional ``config.py`` in the instance
folder, ``QUART_*`` environment variables and the mapping given to
``create_app``, then ``validate`` parses every row, runs the rules that span
several cookie keys and fills the defaults that live in the instance folder,
so that a bad value stops the start instead of failing on the first request.
"""

import json
import logging
import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from argon2 import Parameters, Type
from quart import Quart
from redis.asyncio.connection import parse_url
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .audit import FORMATS as AUDIT_FORMATS
from .passwords import PRODUCTION
from .sessions import BACKENDS, TEST_ONLY_BACKENDS

log = logging.getLogger(__name__)

MIN_SECRET_KEY_BYTES: Final = 32
SECRET_KEY_FILE: Final = "secret_key"  # noqa: S105 - a file name
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
MAX_PREFIX_LENGTH: Final = 64
MAX_PAGE_TEXT: Final = 300
HASH_COSTS: Final = ("time_cost", "memory_cost", "parallelism")
OWASP_MIN_MEMORY_KIB: Final = 19 * 1024
OWASP_MIN_TIME_COST: Final = 2
SAMESITE_VALUES: Final = ("Lax", "Strict", "None")
THROTTLE_KINDS: Final = ("account", "address", "registration")
MAX_THROTTLE_WINDOW: Final = 24 * 3600
ASVS_MAX_FAILURES_PER_HOUR: Final = 100
ASYNC_DRIVERS: Final = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class ConfigError(ValueError):
    """A configuration value that the app refuses to start with."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


@dataclass(frozen=True)
class Context:
    """What a parser may consult besides its own value.

    ``config`` is the configuration being validated: the rows above the one
    being parsed already hold their parsed values (``REDIS_URL`` reads
    ``SESSION_BACKEND``). ``testing`` is ``TESTING=True``, which relaxes the
    hashing floor and the throttle's ASVS check and allows test-only backends.
    """

    config: Mapping[str, Any]
    testing: bool


type Parse = Callable[[str, object, Context], Any]


@dataclass(frozen=True)
class Setting:
    """One configuration key: a row of ``SETTINGS`` and of the README's table.

    ``parse(key, raw, context)`` returns the normalised value or raises
    ``ConfigError`` naming the key; ``doc`` is the README's "meaning" cell.
    Its "default" cell is the default as JSON writes it (``QUART_*`` values
    are JSON too), unless ``shown_default`` says it in words (a generated key,
    a duration, a file in the instance folder).
    """

    key: str
    default: object
    parse: Parse
    doc: str
    shown_default: str | None = None

    def default_in_words(self) -> str:
        """The README's "default" cell."""
        if self.shown_default is not None:
            return self.shown_default
        if isinstance(self.default, str):
            return f"`{self.default}`"
        return f"`{json.dumps(self.default)}`"


# --- parsers: one per kind of value, each refusing with one line ----------------------------


def _secret_key(key: str, value: object, _context: Context) -> bytes | None:
    """The key as bytes; ``None`` when unset, for ``validate`` to generate one last."""
    if value is None or value == "":
        return None
    return _key_bytes(key, value)


def _fallback_keys(key: str, value: object, _context: Context) -> list[bytes]:
    if isinstance(value, (str, bytes)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(key, f"must be a list of keys, got {value!r}")
    return [_key_bytes(key, item) for item in value]


def _key_bytes(key: str, value: object) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes):
        raise ConfigError(key, f"must be a string, got {type(value).__name__}")
    if len(value) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            key,
            f"is {len(value)} bytes; at least {MIN_SECRET_KEY_BYTES} are required "
            '(python3 -c "import secrets; print(secrets.token_urlsafe(32))")',
        )
    return value


def _session_backend(key: str, value: object, context: Context) -> object:
    offered = [name for name in BACKENDS if name not in TEST_ONLY_BACKENDS]
    if value not in BACKENDS:
        raise ConfigError(key, f"must be one of {', '.join(offered)}, got {value!r}")
    if value in TEST_ONLY_BACKENDS and not context.testing:
        raise ConfigError(key, f"{value} keeps sessions inside one process and "
                          f"is for tests only; use one of {', '.join(offered)}")
    return value


def _redis_url(key: str, value: object, context: Context) -> object:
    """With the redis backend, check the URL's form at start-up; the connection may come later."""
    if context.config["SESSION_BACKEND"] != "redis":
        return value
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a URL string, got {type(value).__name__}")
    shown = _redacted(value)
    if urlsplit(value).scheme not in REDIS_SCHEMES:
        raise ConfigError(key, f"must start with redis://, rediss:// or unix://, got {shown!r}")
    try:
        parse_url(value)
    except (ValueError, TypeError) as error:
        raise ConfigError(key, f"{shown!r} is not a Redis URL: {error}") from None
    return value


def _redacted(url: str) -> str:
    """A URL with any password replaced, fit for an error line or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _key_prefix(key: str, value: object, _context: Context) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_PREFIX_LENGTH:
        raise ConfigError(key, f"must be 1 to {MAX_PREFIX_LENGTH} characters, got {value!r}")
    return value


def _database_url(key: str, value: object, _context: Context) -> str | None:
    """The URL with its async driver; ``None`` when unset, for ``validate`` to place last."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a URL string, got {value!r}")
    try:
        url: URL = make_url(value)
    except ArgumentError:
        raise ConfigError(key, f"is not a database URL: {value!r}") from None
    backend = url.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ConfigError(key, f"must be sqlite or postgresql, got {backend!r}")
    if url.drivername == backend:
        url = url.set(drivername=ASYNC_DRIVERS[backend])
    if url.drivername != ASYNC_DRIVERS[backend]:
        raise ConfigError(key, f"driver must be {ASYNC_DRIVERS[backend]}, got {url.drivername}")
    return url.render_as_string(hide_password=False)


def _duration(key: str, value: object, _context: Context) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise ConfigError(key, f"must be a number of seconds, got {value!r}")
    if value <= timedelta(0):
        raise ConfigError(key, f"must be positive, got {value.total_seconds():g} seconds")
    return value


def _duration_or_zero(key: str, value: object, context: Context) -> timedelta:
    """A duration that may be zero: the feature it sizes is then off."""
    if value == 0 or value == timedelta(0):
        return timedelta(0)
    return _duration(key, value, context)


def _flag(key: str, value: object, _context: Context) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")
    return value


def _cache_ttl(key: str, value: object, _context: Context) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
        raise ConfigError(key, f"must be 0 to 60 seconds, got {value!r}")
    return float(value)


def _host_list(key: str, value: object, _context: Context) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(h, str) for h in value):
        raise ConfigError(key, f"must be a list of host names, got {value!r}")
    hosts = [h.strip().lower().removeprefix("[").removesuffix("]") for h in value if h.strip()]
    if not hosts:
        raise ConfigError(key, "must name at least one host")
    return hosts


def _whole_number(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(key, f"must be a whole number >= 0, got {value!r}")
    return value


def _non_negative(key: str, value: object, _context: Context) -> int:
    return _whole_number(key, value)


def _at_least_one(key: str, value: object, _context: Context) -> int:
    number = _whole_number(key, value)
    if number < 1:
        raise ConfigError(key, "must be at least 1")
    return number


def _count_per_window(key: str, value: object, _context: Context) -> tuple[int, int]:
    """``[count, seconds]``: at most ``count`` per fixed window of ``seconds``, both >= 1."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(type(v) is int and v >= 1 for v in value)):
        raise ConfigError(key, f"must be [count, seconds], both whole numbers >= 1, got {value!r}")
    return value[0], value[1]


def _page_text(key: str, value: object, _context: Context) -> str:
    """One line of plain text for a page (escaped there); empty shows nothing."""
    if not isinstance(value, str) or len(value) > MAX_PAGE_TEXT or "\n" in value:
        raise ConfigError(key, f"must be one line of at most {MAX_PAGE_TEXT} characters, "
                          f"got {value!r}")
    return value


def _cookie_name(key: str, value: object, _context: Context) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"must be a non-empty string, got {value!r}")
    return value


def _samesite(key: str, value: object, _context: Context) -> str:
    if not isinstance(value, str) or value not in SAMESITE_VALUES:
        got = "no value (null)" if value is None else repr(value)
        raise ConfigError(key, f'must be Lax, Strict or None, written as a string ("None"), '
                          f"got {got}")
    return value


def _cookie_path(key: str, value: object, _context: Context) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(key, f"must be a path starting with /, got {value!r}")
    return value


def _cookie_domain(key: str, value: object, _context: Context) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(key, f"must be a domain name, or null for none, got {value!r}")
    return value


def _hash_parameters(key: str, value: object, context: Context) -> Parameters:
    """argon2id costs: RFC 9106's low-memory profile unless stronger ones are given.

    Anything below OWASP's floor (19 MiB, t=2) is refused, except in tests,
    which hash with cheap parameters where hashing is not what they test.
    """
    if value is None:
        return PRODUCTION
    if not isinstance(value, Mapping) or set(value) != set(HASH_COSTS):
        raise ConfigError(key, f"must be a mapping of {', '.join(HASH_COSTS)}, got {value!r}")
    costs = {name: _whole_number(f"{key}.{name}", value[name]) for name in HASH_COSTS}
    if not context.testing and (costs["memory_cost"] < OWASP_MIN_MEMORY_KIB
                                or costs["time_cost"] < OWASP_MIN_TIME_COST
                                or costs["parallelism"] < 1):
        raise ConfigError(key, f"below OWASP's minimum (memory_cost >= {OWASP_MIN_MEMORY_KIB}, "
                          f"time_cost >= {OWASP_MIN_TIME_COST}): {costs}")
    return Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32, **costs)


def _audit_format(key: str, value: object, _context: Context) -> str:
    if not isinstance(value, str) or value not in AUDIT_FORMATS:
        raise ConfigError(key, f"must be one of {', '.join(AUDIT_FORMATS)}, got {value!r}")
    return value


def _login_throttle(key: str, value: object, context: Context) -> dict[str, tuple[int, int]]:
    """Attempts allowed per account, per address and registrations per address, each
    ``[count, window seconds]``.

    A key left out keeps its default. An account limit that could let more than
    ASVS 4.0.3 2.2.1's 100 failed logins an hour through is refused outside tests:
    fixed windows allow ``count * (ceil(3600 / window) + 1)`` in the worst hour.
    """
    shape = ('must be like {"account": [10, 900], "address": [100, 900], '
             '"registration": [20, 3600]}')
    if not isinstance(value, Mapping) or not set(value) <= set(THROTTLE_KINDS):
        raise ConfigError(key, f"{shape}, got {value!r}")
    limits = {}
    for kind in THROTTLE_KINDS:
        pair = value.get(kind, DEFAULTS[key][kind])
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in pair)):
            raise ConfigError(f"{key}.{kind}",
                              f"must be [attempts, window seconds], whole numbers >= 1, "
                              f"got {pair!r}")
        if pair[1] > MAX_THROTTLE_WINDOW:
            raise ConfigError(f"{key}.{kind}",
                              f"window must be at most {MAX_THROTTLE_WINDOW} seconds (a day), "
                              f"got {pair[1]}")
        limits[kind] = (pair[0], pair[1])
    count, window = limits["account"]
    worst_hour = count * (math.ceil(3600 / window) + 1)
    if not context.testing and worst_hour > ASVS_MAX_FAILURES_PER_HOUR:
        raise ConfigError(f"{key}.account",
                          f"{list(limits['account'])} lets up to {worst_hour} failed logins "
                          f"through in an hour; ASVS 4.0.3 2.2.1 allows "
                          f"{ASVS_MAX_FAILURES_PER_HOUR}")
    return limits


# --- the table ------------------------------------------------------------------------------

SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("SECRET_KEY", None, _secret_key,
            "signs session cookies; ≥ 32 bytes. Unset: a key is generated once into "
            "`instance/secret_key` (mode 0600, shared by all workers on the machine) with a "
            "warning",
            shown_default="generated"),
    Setting("SECRET_KEY_FALLBACKS", [], _fallback_keys,
            "old keys still accepted for reading (key rotation); each ≥ 32 bytes"),
    Setting("SESSION_BACKEND", "cookie", _session_backend,
            "`cookie`: the signed session lives in the cookie. `redis`: the session lives in "
            "Redis, the cookie holds only its id (see “Scaling out”). (`memory` exists for the "
            "test suite only and is refused otherwise)"),
    Setting("REDIS_URL", "redis://127.0.0.1:6379/0", _redis_url,
            "with `SESSION_BACKEND=redis`: `redis://[[user]:password@]host[:port][/db]`, "
            "`rediss://…` for TLS, or `unix:///path`; its form is checked at start-up (one "
            "line, password masked), the connection is made when serving starts and re-made by "
            "itself after an outage"),
    Setting("SESSION_KEY_PREFIX", "quart_app:", _key_prefix,
            "prefix of every Redis key (`<prefix>s:<id>` records, `<prefix>u:<user id>` "
            "per-user indexes, `<prefix>throttle:…` login counters), so several apps can share "
            "one Redis"),
    Setting("DATABASE_URL", None, _database_url,
            "SQLite or PostgreSQL (`postgresql://user@host/db`); `sqlite://` and "
            "`postgresql://` get their async drivers (aiosqlite, asyncpg)",
            shown_default="`sqlite+aiosqlite:///instance/users.db`"),
    Setting("PERMANENT_SESSION_LIFETIME", timedelta(days=7), _duration,
            "“remember me”: how long a remembered session survives without a visit (sliding)",
            shown_default="7 days"),
    Setting("SESSION_IDLE_TIMEOUT", timedelta(minutes=30), _duration,
            "a session without “remember me” ends after this long without a request",
            shown_default="30 minutes"),
    Setting("SESSION_ABSOLUTE_TIMEOUT", timedelta(days=30), _duration,
            "every session ends this long after login, however active",
            shown_default="30 days"),
    Setting("SESSION_END_NOTICE", timedelta(days=1), _duration_or_zero,
            "how long past a login's timeout its browser can still be told why it was "
            "logged out (“…after 30 minutes without activity”): a signed cookie is read that "
            "much longer (and refused), a server-side record (`redis`) is kept that much "
            "longer, unlisted and refused, at the cost of its memory; 0 turns that off",
            shown_default="1 day"),
    Setting("FORGOT_PASSWORD_TEXT", "Forgot it? Ask the administrator of this site.",
            _page_text,
            "the line under the login form's password field telling people what to do when "
            "they forgot it (this service has no reset by e-mail); one line of plain text, "
            "empty for none"),
    Setting("REGISTRATION_ENABLED", True, _flag,
            "`false` turns `/register` into a 404"),
    Setting("USER_CACHE_TTL", 1, _cache_ttl,
            "seconds each worker remembers a user for the per-request check (0 to 60; 0 turns "
            "it off). A change made by the same worker counts at once, one made elsewhere "
            "within this time"),
    Setting("TRUSTED_HOSTS", ["localhost", "127.0.0.1", "::1"], _host_list,
            "`Host` names served (any port); `.example.com` allows subdomains; others get 400. "
            "`/healthz` answers any host"),
    Setting("PROXY_FIX_HOPS", 0, _non_negative,
            "number of trusted proxies in front; > 0 takes scheme, host and client address "
            "from `X-Forwarded-*`"),
    Setting("SESSION_COOKIE_NAME", "__Host-session", _cookie_name,
            "the session cookie's name (the `SESSION_COOKIE_*` keys are Quart's own, with "
            "secure defaults); the `__Host-` prefix requires Secure, Path `/` and no Domain "
            "(checked at start-up)"),
    Setting("SESSION_COOKIE_SECURE", True, _flag,
            "the cookie is sent over HTTPS only; required by the `__Host-` and `__Secure-` "
            "name prefixes and by SameSite `None`"),
    Setting("SESSION_COOKIE_HTTPONLY", True, _flag,
            "page scripts cannot read the cookie"),
    Setting("SESSION_COOKIE_SAMESITE", "Lax", _samesite,
            "whether browsers send the cookie with requests from other sites: `Lax` (links and "
            "other top-level GET navigations only), `Strict` (never) or `None` (always; requires "
            "Secure), written as a string"),
    Setting("SESSION_COOKIE_PATH", "/", _cookie_path,
            "the cookie's Path, starting with `/`; the `__Host-` prefix requires `/`"),
    Setting("SESSION_COOKIE_DOMAIN", None, _cookie_domain,
            "the cookie's Domain; none keeps the cookie to the exact host, as the `__Host-` "
            "prefix requires",
            shown_default="none"),
    Setting("SESSION_REFRESH_EACH_REQUEST", False, _flag,
            "the cookie is re-sent when activity is recorded (at most once a minute), not on "
            "every request; `true` re-sends a permanent session's cookie on every request "
            "(Flask's meaning), on every backend"),
    Setting("SESSION_MAX_BYTES", 16 * 1024, _at_least_one,
            "the largest server-side record (`redis`): a view that writes more gets a 500 page "
            "and a log line naming the size, never a dropped write. Signed cookies have the "
            "browsers' own limit, 4093 bytes for the `Set-Cookie` header, enforced the same "
            "way"),
    Setting("SESSION_MAX_PER_USER", 100, _at_least_one,
            "live server-side sessions one user may keep; the next login ends the least "
            "recently active one"),
    Setting("SESSION_NEW_PER_ADDRESS", [300, 3600], _count_per_window,
            "`[count, seconds]`: new anonymous server-side sessions one client address (IPv4, "
            "or IPv6 /64) may start per fixed window; past it a view's write gets a 429 page "
            "with `Retry-After` (“Too many new visitor sessions from your network”). Logins, "
            "visitors who already have a session, and a session that replaces its own record "
            "(the “You are logged out.” message after logout) are not counted, so logging out "
            "is never refused"),
    Setting("MAX_CONTENT_LENGTH", 64 * 1024, _at_least_one,
            "larger request bodies get 413, counted while they stream (a missing or false "
            "`Content-Length` does not help)"),
    Setting("PASSWORD_HASH_PARAMETERS", None, _hash_parameters,
            'argon2id costs as `{"time_cost": 3, "memory_cost": 65536, "parallelism": 4}` '
            "(KiB); stronger is fine, below OWASP's floor (19 MiB, t=2) is refused at start-up",
            shown_default="RFC 9106 low-memory"),
    Setting("PASSWORD_HASH_CONCURRENCY", 1, _at_least_one,
            "hashes one worker computes at once. Keep workers × this ≤ cores"),  # noqa: RUF001
    Setting("PASSWORD_HASH_QUEUE", 8, _non_negative,
            "logins a worker lets wait for a hash (at most 3 s each); past that: a fast 503 "
            "with `Retry-After: 2`"),
    Setting("AUDIT_LOG_FORMAT", "text", _audit_format,
            "`text` or `json`: how the audit log (see “Security model”) is written"),
    Setting("LOGIN_THROTTLE",
            {"account": [10, 900], "address": [100, 900], "registration": [20, 3600]},
            _login_throttle,
            "failed logins allowed per typed account name and per client address, and "
            "registrations per client address, each `[attempts, window seconds]` (a fixed "
            "window, at most a day); a key left out keeps its default. A successful login "
            "does not count against its address, so the people behind one office or carrier "
            "address do not use up each other's logins. Past a limit: 429 with `Retry-After` "
            "and a page saying which limit and how long, no hash computed (see “Login "
            "throttling”). The account pages' password confirmations count apart: half the "
            "account limit per session (rounded up), the account limit for all of an "
            "account's sessions together, in the same window. Stricter than ASVS 4.0.3's 2.2.1 "
            "(at most 100 failed logins an hour per account; ASVS 5.0's 6.3.1 sets no number): "
            "an account limit that could let more through in any hour "
            "(`attempts × (⌈3600 / window⌉ + 1)`) is refused at start-up"),  # noqa: RUF001
)

DEFAULTS: Final[Mapping[str, Any]] = {setting.key: setting.default for setting in SETTINGS}

# Keys an operator might expect (some are in the design's list) that this app deliberately does
# not offer: setting one stops the start with the reason instead of being silently ignored.
NOT_OFFERED: Final[Mapping[str, str]] = {
    "REAUTH_MAX_AGE": "is not a setting: account changes always ask for the password, every "
                      "time, so there is no recent-login window to set; remove it",
}


# --- loading and validation -----------------------------------------------------------------


def load_config(app: Quart, overrides: Mapping[str, Any] | None) -> None:
    """Layer every configuration source and validate the result.

    The order (defaults, instance file, environment, overrides) lets an
    operator change anything without editing code while tests stay explicit.
    """
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("QUART")
    if overrides:
        app.config.from_mapping(overrides)
    validate(app.config, Path(app.instance_path))


def validate(config: dict[str, Any], instance_path: Path) -> None:
    """Normalise and check every key, raising ``ConfigError`` on the first bad one.

    Every row of ``SETTINGS`` parses its own key, in table order, so no key
    goes unchecked; then the rules that tie the cookie keys together; last,
    what is unset and lives in the instance folder is created, so that a start
    refused for a bad value leaves nothing behind there.
    """
    for key, reason in NOT_OFFERED.items():
        if key in config:
            raise ConfigError(key, reason)
    context = Context(config, testing=config.get("TESTING") is True)
    for setting in SETTINGS:
        config[setting.key] = setting.parse(setting.key, config[setting.key], context)
    _check_cookie_attributes(config)
    _fill_from_instance_folder(config, instance_path)


def markdown_table() -> str:
    """The README's configuration table, rendered from ``SETTINGS`` so the two cannot drift.

    ``tests/test_config.py`` fails while README.md's table differs from this;
    after changing a row, paste ``python -c "from quart_app.config import
    markdown_table; print(markdown_table())"`` into the README.
    """
    rows = ["| key | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.key}` | {s.default_in_words()} | {s.doc} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def _check_cookie_attributes(config: Mapping[str, Any]) -> None:
    """What browsers would silently reject: SameSite=None and the name prefixes need Secure."""
    name = config["SESSION_COOKIE_NAME"]
    if config["SESSION_COOKIE_SAMESITE"] == "None" and not config["SESSION_COOKIE_SECURE"]:
        raise ConfigError("SESSION_COOKIE_SAMESITE", "None requires SESSION_COOKIE_SECURE=true")
    if name.startswith(("__Host-", "__Secure-")) and not config["SESSION_COOKIE_SECURE"]:
        raise ConfigError(
            "SESSION_COOKIE_SECURE",
            f"must be true for a cookie named {name}; rename the cookie to use plain http",
        )
    if name.startswith("__Host-") and (
        config["SESSION_COOKIE_DOMAIN"] or config["SESSION_COOKIE_PATH"] != "/"
    ):
        raise ConfigError(
            "SESSION_COOKIE_NAME",
            f"{name} requires SESSION_COOKIE_PATH='/' and no SESSION_COOKIE_DOMAIN",
        )


def _fill_from_instance_folder(config: dict[str, Any], instance_path: Path) -> None:
    """An unset DATABASE_URL is SQLite in the instance folder; an unset SECRET_KEY is generated."""
    if config["DATABASE_URL"] is None:
        make_instance_folder(instance_path)
        config["DATABASE_URL"] = f"sqlite+aiosqlite:///{instance_path / 'users.db'}"
    if config["SECRET_KEY"] is None:
        config["SECRET_KEY"] = _generated_key(instance_path)


def make_instance_folder(instance_path: Path) -> None:
    """Create the private instance folder (mode 0700) for whatever is about to live in it.

    Both the default SQLite file and a generated key live there, and either
    may be the first thing to need it (``db init`` with ``QUART_SECRET_KEY`` set).
    """
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _generated_key(instance_path: Path) -> bytes:
    """Read the instance key, creating it exactly once even when workers race.

    The key is written to a private temporary file and then hard-linked into
    place: ``link`` fails if another worker won, so nobody ever reads a
    half-written key and all workers end up signing with the same one.
    """
    path = instance_path / SECRET_KEY_FILE
    if not path.exists():
        make_instance_folder(instance_path)
        tmp = instance_path / f".{SECRET_KEY_FILE}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
            log.warning(
                "SECRET_KEY is not set: generated one into %s; set QUART_SECRET_KEY "
                "(shared by every machine) in production",
                path,
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _key_bytes(f"SECRET_KEY (from {path})", path.read_text().strip())
