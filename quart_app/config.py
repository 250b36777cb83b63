"""Configuration: the table of defaults, the loading order and start-up validation.

Every key an operator can set is in ``DEFAULTS``. ``load_config`` layers the
defaults, an optional ``config.py`` in the instance folder, ``QUART_*``
environment variables and the mapping given to ``create_app``, then
validates the result so that a bad value stops the start with one line that
names the key instead of failing on the first request.
"""

import logging
import math
import os
import secrets
from collections.abc import Mapping
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

DEFAULTS: Final[Mapping[str, Any]] = {
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],
    "SESSION_BACKEND": "cookie",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SESSION_KEY_PREFIX": "quart_app:",
    "DATABASE_URL": None,
    "PERMANENT_SESSION_LIFETIME": timedelta(days=7),
    "SESSION_IDLE_TIMEOUT": timedelta(minutes=30),
    "SESSION_ABSOLUTE_TIMEOUT": timedelta(days=30),
    "REGISTRATION_ENABLED": True,
    "USER_CACHE_TTL": 1.0,
    "TRUSTED_HOSTS": ["localhost", "127.0.0.1", "::1"],
    "PROXY_FIX_HOPS": 0,
    "SESSION_COOKIE_NAME": "__Host-session",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_PATH": "/",
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_REFRESH_EACH_REQUEST": False,
    "SESSION_MAX_BYTES": 16 * 1024,
    "SESSION_MAX_PER_USER": 100,
    "SESSION_NEW_PER_ADDRESS": [300, 3600],
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "PASSWORD_HASH_PARAMETERS": None,
    "PASSWORD_HASH_CONCURRENCY": 1,
    "PASSWORD_HASH_QUEUE": 8,
    "LOGIN_THROTTLE": {"account": [10, 900], "address": [100, 900]},
    "AUDIT_LOG_FORMAT": "text",
}

# Keys an operator might expect (some are in the design's list) that this app deliberately does
# not offer: setting one stops the start with the reason instead of being silently ignored.
NOT_OFFERED: Final[Mapping[str, str]] = {
    "REAUTH_MAX_AGE": "is not a setting: account changes always ask for the password, every "
                      "time, so there is no recent-login window to set; remove it",
}

REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
MAX_PREFIX_LENGTH: Final = 64
HASH_COSTS: Final = ("time_cost", "memory_cost", "parallelism")
OWASP_MIN_MEMORY_KIB: Final = 19 * 1024
OWASP_MIN_TIME_COST: Final = 2
SAMESITE_VALUES: Final = ("Lax", "Strict", "None")
THROTTLE_KINDS: Final = ("account", "address")
MAX_THROTTLE_WINDOW: Final = 24 * 3600
ASVS_MAX_FAILURES_PER_HOUR: Final = 100
ASYNC_DRIVERS: Final = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class ConfigError(ValueError):
    """A configuration value that the app refuses to start with."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


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
    """Normalise and check every key, raising ``ConfigError`` on the first bad one."""
    for key, reason in NOT_OFFERED.items():
        if key in config:
            raise ConfigError(key, reason)
    for key in ("PERMANENT_SESSION_LIFETIME", "SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_TIMEOUT"):
        config[key] = _duration(key, config[key])
    for key in ("REGISTRATION_ENABLED", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
                "SESSION_REFRESH_EACH_REQUEST"):
        if not isinstance(config[key], bool):
            raise ConfigError(key, f"must be true or false, got {config[key]!r}")
    _session_backend(config)
    if config["AUDIT_LOG_FORMAT"] not in AUDIT_FORMATS:
        raise ConfigError("AUDIT_LOG_FORMAT", f"must be one of {', '.join(AUDIT_FORMATS)}, "
                          f"got {config['AUDIT_LOG_FORMAT']!r}")
    for key in ("PROXY_FIX_HOPS", "PASSWORD_HASH_QUEUE"):
        config[key] = _non_negative_int(key, config[key])
    for key in ("SESSION_MAX_BYTES", "SESSION_MAX_PER_USER", "MAX_CONTENT_LENGTH"):
        if _non_negative_int(key, config[key]) < 1:
            raise ConfigError(key, "must be at least 1")
    config["SESSION_NEW_PER_ADDRESS"] = _count_per_window(
        "SESSION_NEW_PER_ADDRESS", config["SESSION_NEW_PER_ADDRESS"])
    if _non_negative_int("PASSWORD_HASH_CONCURRENCY", config["PASSWORD_HASH_CONCURRENCY"]) < 1:
        raise ConfigError("PASSWORD_HASH_CONCURRENCY", "must be at least 1")
    config["PASSWORD_HASH_PARAMETERS"] = _hash_parameters(
        config["PASSWORD_HASH_PARAMETERS"], testing=config.get("TESTING") is True
    )
    config["USER_CACHE_TTL"] = _cache_ttl(config["USER_CACHE_TTL"])
    config["LOGIN_THROTTLE"] = _login_throttle(config["LOGIN_THROTTLE"],
                                               testing=config.get("TESTING") is True)
    config["TRUSTED_HOSTS"] = _host_list(config["TRUSTED_HOSTS"])
    _check_cookie(config)
    config["DATABASE_URL"] = _database_url(config["DATABASE_URL"], instance_path)
    config["SECRET_KEY"] = _secret_key(config["SECRET_KEY"], instance_path)
    config["SECRET_KEY_FALLBACKS"] = _fallback_keys(config["SECRET_KEY_FALLBACKS"])


def _duration(key: str, value: object) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise ConfigError(key, f"must be a number of seconds, got {value!r}")
    if value <= timedelta(0):
        raise ConfigError(key, f"must be positive, got {value.total_seconds():g} seconds")
    return value


def _hash_parameters(value: object, *, testing: bool) -> Parameters:
    """argon2id costs: RFC 9106's low-memory profile unless stronger ones are given.

    Anything below OWASP's floor (19 MiB, t=2) is refused, except in tests,
    which hash with cheap parameters where hashing is not what they test.
    """
    if value is None:
        return PRODUCTION
    if not isinstance(value, Mapping) or set(value) != set(HASH_COSTS):
        raise ConfigError("PASSWORD_HASH_PARAMETERS",
                          f"must be a mapping of {', '.join(HASH_COSTS)}, got {value!r}")
    costs = {key: _non_negative_int(f"PASSWORD_HASH_PARAMETERS.{key}", value[key])
             for key in HASH_COSTS}
    if not testing and (costs["memory_cost"] < OWASP_MIN_MEMORY_KIB
                        or costs["time_cost"] < OWASP_MIN_TIME_COST or costs["parallelism"] < 1):
        raise ConfigError("PASSWORD_HASH_PARAMETERS",
                          f"below OWASP's minimum (memory_cost >= {OWASP_MIN_MEMORY_KIB}, "
                          f"time_cost >= {OWASP_MIN_TIME_COST}): {costs}")
    return Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32, **costs)


def _session_backend(config: dict[str, Any]) -> None:
    backend = config["SESSION_BACKEND"]
    offered = [name for name in BACKENDS if name not in TEST_ONLY_BACKENDS]
    if backend not in BACKENDS:
        raise ConfigError("SESSION_BACKEND",
                          f"must be one of {', '.join(offered)}, got {backend!r}")
    if backend in TEST_ONLY_BACKENDS and config.get("TESTING") is not True:
        raise ConfigError("SESSION_BACKEND", f"{backend} keeps sessions inside one process and "
                          f"is for tests only; use one of {', '.join(offered)}")
    prefix = config["SESSION_KEY_PREFIX"]
    if not isinstance(prefix, str) or not prefix or len(prefix) > MAX_PREFIX_LENGTH:
        raise ConfigError("SESSION_KEY_PREFIX",
                          f"must be 1 to {MAX_PREFIX_LENGTH} characters, got {prefix!r}")
    if backend == "redis":
        config["REDIS_URL"] = _redis_url(config["REDIS_URL"])


def _redis_url(value: object) -> str:
    """Check the URL's form at start-up; the connection itself may come later."""
    if not isinstance(value, str):
        raise ConfigError("REDIS_URL", f"must be a URL string, got {type(value).__name__}")
    shown = _redacted(value)
    if urlsplit(value).scheme not in REDIS_SCHEMES:
        raise ConfigError("REDIS_URL", f"must start with redis://, rediss:// or unix://, "
                          f"got {shown!r}")
    try:
        parse_url(value)
    except (ValueError, TypeError) as error:
        raise ConfigError("REDIS_URL", f"{shown!r} is not a Redis URL: {error}") from None
    return value


def _redacted(url: str) -> str:
    """A URL with any password replaced, fit for an error line or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _non_negative_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(key, f"must be a whole number >= 0, got {value!r}")
    return value


def _count_per_window(key: str, value: object) -> tuple[int, int]:
    """``[count, seconds]``: at most ``count`` per fixed window of ``seconds``, both >= 1."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(type(v) is int and v >= 1 for v in value)):
        raise ConfigError(key, f"must be [count, seconds], both whole numbers >= 1, got {value!r}")
    return value[0], value[1]


def _cache_ttl(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
        raise ConfigError("USER_CACHE_TTL", f"must be 0 to 60 seconds, got {value!r}")
    return float(value)


def _login_throttle(value: object, *, testing: bool) -> dict[str, tuple[int, int]]:
    """Failures allowed per account and per address, each ``[count, window seconds]``.

    A key left out keeps its default. An account limit that could let more than
    ASVS 4.0.3 2.2.1's 100 failed logins an hour through is refused outside tests:
    fixed windows allow ``count * (ceil(3600 / window) + 1)`` in the worst hour.
    """
    shape = 'must be like {"account": [10, 900], "address": [100, 900]}'
    if not isinstance(value, Mapping) or not set(value) <= set(THROTTLE_KINDS):
        raise ConfigError("LOGIN_THROTTLE", f"{shape}, got {value!r}")
    limits = {}
    for kind in THROTTLE_KINDS:
        pair = value.get(kind, DEFAULTS["LOGIN_THROTTLE"][kind])
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in pair)):
            raise ConfigError(f"LOGIN_THROTTLE.{kind}",
                              f"must be [attempts, window seconds], whole numbers >= 1, "
                              f"got {pair!r}")
        if pair[1] > MAX_THROTTLE_WINDOW:
            raise ConfigError(f"LOGIN_THROTTLE.{kind}",
                              f"window must be at most {MAX_THROTTLE_WINDOW} seconds (a day), "
                              f"got {pair[1]}")
        limits[kind] = (pair[0], pair[1])
    count, window = limits["account"]
    worst_hour = count * (math.ceil(3600 / window) + 1)
    if not testing and worst_hour > ASVS_MAX_FAILURES_PER_HOUR:
        raise ConfigError("LOGIN_THROTTLE.account",
                          f"{list(limits['account'])} lets up to {worst_hour} failed logins "
                          f"through in an hour; ASVS 4.0.3 2.2.1 allows "
                          f"{ASVS_MAX_FAILURES_PER_HOUR}")
    return limits


def _host_list(value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(h, str) for h in value):
        raise ConfigError("TRUSTED_HOSTS", f"must be a list of host names, got {value!r}")
    hosts = [h.strip().lower().removeprefix("[").removesuffix("]") for h in value if h.strip()]
    if not hosts:
        raise ConfigError("TRUSTED_HOSTS", "must name at least one host")
    return hosts


def _check_cookie(config: dict[str, Any]) -> None:
    name = config["SESSION_COOKIE_NAME"]
    if not isinstance(name, str) or not name:
        raise ConfigError("SESSION_COOKIE_NAME", f"must be a non-empty string, got {name!r}")
    samesite = config["SESSION_COOKIE_SAMESITE"]
    if samesite not in SAMESITE_VALUES:
        got = "no value (null)" if samesite is None else repr(samesite)
        raise ConfigError("SESSION_COOKIE_SAMESITE",
                          f'must be Lax, Strict or None, written as a string ("None"), got {got}')
    if samesite == "None" and not config["SESSION_COOKIE_SECURE"]:
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


def make_instance_folder(instance_path: Path) -> None:
    """Create the private instance folder (mode 0700) for whatever is about to live in it.

    Both the default SQLite file and a generated key live there, and either
    may be the first thing to need it (``db init`` with ``QUART_SECRET_KEY`` set).
    """
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _database_url(value: object, instance_path: Path) -> str:
    if value is None:
        make_instance_folder(instance_path)
        return f"sqlite+aiosqlite:///{instance_path / 'users.db'}"
    if not isinstance(value, str):
        raise ConfigError("DATABASE_URL", f"must be a URL string, got {value!r}")
    try:
        url: URL = make_url(value)
    except ArgumentError:
        raise ConfigError("DATABASE_URL", f"is not a database URL: {value!r}") from None
    backend = url.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ConfigError("DATABASE_URL", f"must be sqlite or postgresql, got {backend!r}")
    if url.drivername == backend:
        url = url.set(drivername=ASYNC_DRIVERS[backend])
    if url.drivername != ASYNC_DRIVERS[backend]:
        raise ConfigError(
            "DATABASE_URL", f"driver must be {ASYNC_DRIVERS[backend]}, got {url.drivername}"
        )
    return url.render_as_string(hide_password=False)


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


def _secret_key(value: object, instance_path: Path) -> bytes:
    if value is None or value == "":
        return _generated_key(instance_path)
    return _key_bytes("SECRET_KEY", value)


def _fallback_keys(value: object) -> list[bytes]:
    if isinstance(value, (str, bytes)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError("SECRET_KEY_FALLBACKS", f"must be a list of keys, got {value!r}")
    return [_key_bytes("SECRET_KEY_FALLBACKS", key) for key in value]


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
