"""Start-up: where settings come from, and refusal of bad values with one clear line."""

import itertools
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from argon2 import Type
from quart import session

from quart_app import create_app
from quart_app.config import DEFAULTS, NOT_OFFERED, SETTINGS, ConfigError, Setting, markdown_table

from .conftest import SECRET_KEY, set_cookie_headers


def test_defaults_are_the_secure_ones(config: dict[str, Any]) -> None:
    app = create_app(config)
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(days=7)
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=30)
    assert app.config["SESSION_ABSOLUTE_TIMEOUT"] == timedelta(days=30)


def test_environment_overrides_defaults(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUART_SESSION_IDLE_TIMEOUT", "600")
    monkeypatch.setenv("QUART_REGISTRATION_ENABLED", "false")
    app = create_app(config)
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=10)
    assert app.config["REGISTRATION_ENABLED"] is False


def test_instance_config_file_is_read(
    config: dict[str, Any], tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("TRUSTED_HOSTS = ['login.example.com']\n")
    app = create_app(config)
    assert app.config["TRUSTED_HOSTS"] == ["login.example.com"]


def test_sqlite_url_gets_the_async_driver(config: dict[str, Any]) -> None:
    app = create_app({**config, "DATABASE_URL": "sqlite:///users.db"})
    assert app.config["DATABASE_URL"] == "sqlite+aiosqlite:///users.db"


def test_default_database_lives_in_the_instance_folder(tmp_path: Path) -> None:
    app = create_app({"SECRET_KEY": SECRET_KEY})
    assert app.config["DATABASE_URL"] == f"sqlite+aiosqlite:///{tmp_path / 'instance' / 'users.db'}"


@pytest.mark.parametrize(
    "costs",
    [{"time_cost": 1, "memory_cost": 65536, "parallelism": 4},
     {"time_cost": 3, "memory_cost": 19 * 1024 - 1, "parallelism": 4},
     {"time_cost": 3, "memory_cost": 65536, "parallelism": 0}],
)
def test_hashing_below_owasps_minimum_is_refused_outside_tests(
    config: dict[str, Any], costs: dict[str, int]
) -> None:
    with pytest.raises(ConfigError, match="below OWASP's minimum"):
        create_app({**config, "TESTING": False, "PASSWORD_HASH_PARAMETERS": costs})


def test_stronger_hashing_can_be_set_from_the_environment(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUART_PASSWORD_HASH_PARAMETERS",
                       '{"time_cost": 4, "memory_cost": 131072, "parallelism": 4}')
    del config["PASSWORD_HASH_PARAMETERS"]
    parameters = create_app(config).config["PASSWORD_HASH_PARAMETERS"]
    assert (parameters.type, parameters.time_cost, parameters.memory_cost,
            parameters.parallelism) == (Type.ID, 4, 131072, 4)


def test_hashing_defaults_to_rfc_9106_low_memory(config: dict[str, Any]) -> None:
    del config["PASSWORD_HASH_PARAMETERS"]
    parameters = create_app(config).config["PASSWORD_HASH_PARAMETERS"]
    assert (parameters.type, parameters.time_cost, parameters.memory_cost,
            parameters.parallelism) == (Type.ID, 3, 65536, 4)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SECRET_KEY", "short", "at least 32"),
        ("SECRET_KEY", 12345, "must be a string"),
        ("SECRET_KEY_FALLBACKS", ["short"], "at least 32"),
        ("SECRET_KEY_FALLBACKS", 7, "list of keys"),
        ("SESSION_BACKEND", "memcached", "must be one of"),
        ("PERMANENT_SESSION_LIFETIME", 0, "positive"),
        ("SESSION_IDLE_TIMEOUT", -5, "positive"),
        ("SESSION_ABSOLUTE_TIMEOUT", "a month", "number of seconds"),
        ("REGISTRATION_ENABLED", "yes", "true or false"),
        ("SESSION_COOKIE_SECURE", 1, "true or false"),
        ("SESSION_COOKIE_SAMESITE", "lax", "Lax, Strict or None"),
        ("SESSION_COOKIE_SAMESITE", None, 'written as a string \\("None"\\), got no value'),
        ("SESSION_MAX_BYTES", 0, "at least 1"),
        ("SESSION_MAX_BYTES", "big", ">= 0"),
        ("SESSION_MAX_PER_USER", 0, "at least 1"),
        ("SESSION_NEW_PER_ADDRESS", [0, 3600], "both whole numbers >= 1"),
        ("SESSION_NEW_PER_ADDRESS", "many", r"\[count, seconds\]"),
        ("MAX_CONTENT_LENGTH", "big", ">= 0"),
        ("MAX_CONTENT_LENGTH", -5, ">= 0"),
        ("SESSION_COOKIE_NAME", "", "non-empty"),
        ("SESSION_COOKIE_PATH", "app", "a path starting with /"),
        ("SESSION_COOKIE_PATH", None, "a path starting with /"),
        ("SESSION_COOKIE_DOMAIN", 42, "a domain name, or null for none"),
        ("TRUSTED_HOSTS", [], "at least one"),
        ("TRUSTED_HOSTS", 42, "list of host names"),
        ("PROXY_FIX_HOPS", -1, ">= 0"),
        ("PROXY_FIX_HOPS", True, ">= 0"),
        ("USER_CACHE_TTL", -1, "0 to 60 seconds"),
        ("USER_CACHE_TTL", 3600, "0 to 60 seconds"),
        ("USER_CACHE_TTL", "1", "0 to 60 seconds"),
        ("DATABASE_URL", "not a url", "not a database URL"),
        ("DATABASE_URL", "mysql://db/users", "sqlite or postgresql"),
        ("DATABASE_URL", "sqlite+pysqlite:///x.db", "driver must be"),
        ("SESSION_KEY_PREFIX", "", "1 to 64 characters"),
        ("SESSION_KEY_PREFIX", "x" * 65, "1 to 64 characters"),
        ("PASSWORD_HASH_CONCURRENCY", 0, "at least 1"),
        ("PASSWORD_HASH_CONCURRENCY", "2", ">= 0"),
        ("PASSWORD_HASH_QUEUE", -1, ">= 0"),
        ("PASSWORD_HASH_PARAMETERS", "strong", "mapping of"),
        ("PASSWORD_HASH_PARAMETERS", {"time_cost": 3}, "mapping of"),
        ("PASSWORD_HASH_PARAMETERS", {"time_cost": "3", "memory_cost": 65536,
                                      "parallelism": 4}, ">= 0"),
        ("LOGIN_THROTTLE", "strict", "must be like"),
        ("LOGIN_THROTTLE", {"accounts": [10, 900]}, "must be like"),
        ("LOGIN_THROTTLE", {"account": [0, 900]}, ">= 1"),
        ("LOGIN_THROTTLE", {"account": [10]}, "attempts, window seconds"),
        ("LOGIN_THROTTLE", {"account": "10/900"}, "attempts, window seconds"),
        ("LOGIN_THROTTLE", {"address": [100, True]}, ">= 1"),
        ("LOGIN_THROTTLE", {"address": [100, 90000]}, "at most 86400 seconds"),
        ("AUDIT_LOG_FORMAT", "JSON", "must be one of text, json"),
        ("AUDIT_LOG_FORMAT", "syslog", "must be one of text, json"),
    ],
)
def test_bad_values_are_refused_naming_the_key(
    config: dict[str, Any], key: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        create_app({**config, key: value})
    assert refused.value.key.startswith(key)
    assert str(refused.value).startswith(f"{key}")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "cookie",
    [
        {"SESSION_COOKIE_SECURE": False},
        {"SESSION_COOKIE_PATH": "/app"},
        {"SESSION_COOKIE_DOMAIN": "example.com"},
        {"SESSION_COOKIE_NAME": "sid", "SESSION_COOKIE_SECURE": False,
         "SESSION_COOKIE_SAMESITE": "None"},
    ],
)
def test_cookie_settings_that_browsers_would_reject_are_refused(
    config: dict[str, Any], cookie: dict[str, object]
) -> None:
    with pytest.raises(ConfigError):
        create_app({**config, **cookie})


@pytest.mark.parametrize("backend", ["cookie", "memory"])
async def test_samesite_none_with_secure_is_accepted_and_sent(
    config: dict[str, Any], backend: str
) -> None:
    app = create_app({**config, "SESSION_BACKEND": backend, "SESSION_COOKIE_SAMESITE": "None"})

    @app.get("/write")
    async def write() -> str:
        session["theme"] = "dark"
        return "written"

    async with app.test_app():
        [header] = set_cookie_headers(await app.test_client().get("/write"))
    assert "; SameSite=None" in header
    assert "; Secure" in header


def test_short_key_from_the_environment_is_refused(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    del config["SECRET_KEY"]
    monkeypatch.setenv("QUART_SECRET_KEY", "too-short")
    with pytest.raises(ConfigError, match="SECRET_KEY: is 9 bytes"):
        create_app(config)


def test_missing_key_is_generated_once_privately(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = create_app({"DATABASE_URL": "sqlite://"})
    second = create_app({"DATABASE_URL": "sqlite://"})
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert caplog.text.count("SECRET_KEY is not set") == 1


def test_generated_key_leaves_no_temporary_files(tmp_path: Path) -> None:
    create_app({"DATABASE_URL": "sqlite://"})
    assert sorted(p.name for p in (tmp_path / "instance").iterdir()) == ["secret_key"]


def test_asgi_entry_point_exits_with_one_line_on_bad_config(tmp_path: Path) -> None:
    env = {**os.environ, "QUART_SECRET_KEY": "short", "QUART_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import quart_app.asgi"], env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "quart_app: configuration error: SECRET_KEY: is 5 bytes; at least 32 are required "
        '(python3 -c "import secrets; print(secrets.token_urlsafe(32))")'
    ]


def test_the_memory_backend_is_refused_outside_tests(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="for tests only"):
        create_app({**config, "TESTING": False, "PASSWORD_HASH_PARAMETERS": None,
                    "SESSION_BACKEND": "memory"})


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://127.0.0.1:6379", "must start with redis://"),
     ("127.0.0.1:6379", "must start with redis://"),
     ("http://user:hunter2@127.0.0.1:6379", "must start with redis://"),
     ("rediss://user:hunter2-secret@host:port/0", "is not a Redis URL"),
     (6379, "must be a URL string")],
)
def test_a_bad_redis_url_is_refused_in_one_line_without_its_password(
    config: dict[str, Any], url: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        create_app({**config, "SESSION_BACKEND": "redis", "REDIS_URL": url})
    assert str(refused.value).startswith("REDIS_URL: ")
    assert "hunter2" not in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://app:secret@redis.example:6380/2",
            "redis://default:secret@localhost", "unix:///run/redis.sock?db=1"],
)
def test_redis_urls_of_every_documented_form_are_accepted(
    config: dict[str, Any], url: str
) -> None:
    app = create_app({**config, "SESSION_BACKEND": "redis", "REDIS_URL": url})
    assert app.config["REDIS_URL"] == url


def test_reauth_max_age_is_refused_because_account_changes_always_ask_for_the_password(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUART_REAUTH_MAX_AGE", "600")
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    assert refused.value.key == "REAUTH_MAX_AGE"
    assert str(refused.value).startswith("REAUTH_MAX_AGE: ")
    assert "account changes always ask for the password" in str(refused.value)
    assert "\n" not in str(refused.value)


# One value each row of SETTINGS refuses, whatever the rest of the configuration: a new row
# fails test_every_setting_refuses_a_bad_value until it has one here.
REFUSED: Final[dict[str, object]] = {
    "SECRET_KEY": "short",
    "SECRET_KEY_FALLBACKS": 7,
    "SESSION_BACKEND": "memcached",
    "REDIS_URL": "http://127.0.0.1:6379",
    "SESSION_KEY_PREFIX": "",
    "DATABASE_URL": "mysql://db/users",
    "PERMANENT_SESSION_LIFETIME": 0,
    "SESSION_IDLE_TIMEOUT": -5,
    "SESSION_ABSOLUTE_TIMEOUT": "a month",
    "SESSION_END_NOTICE": -1,
    "FORGOT_PASSWORD_TEXT": "first line\nsecond line",
    "REGISTRATION_ENABLED": "yes",
    "USER_CACHE_TTL": 3600,
    "TRUSTED_HOSTS": [],
    "PROXY_FIX_HOPS": -1,
    "SESSION_COOKIE_NAME": "",
    "SESSION_COOKIE_SECURE": 1,
    "SESSION_COOKIE_HTTPONLY": "true",
    "SESSION_COOKIE_SAMESITE": "lax",
    "SESSION_COOKIE_PATH": "app",
    "SESSION_COOKIE_DOMAIN": 42,
    "SESSION_REFRESH_EACH_REQUEST": 0,
    "SESSION_MAX_BYTES": 0,
    "SESSION_MAX_PER_USER": 0,
    "SESSION_NEW_PER_ADDRESS": "many",
    "MAX_CONTENT_LENGTH": 0,
    "PASSWORD_HASH_PARAMETERS": "strong",
    "PASSWORD_HASH_CONCURRENCY": 0,
    "PASSWORD_HASH_QUEUE": -1,
    "AUDIT_LOG_FORMAT": "syslog",
    "LOGIN_THROTTLE": "strict",
}

# What a row's check needs from other keys to apply at all.
ALONGSIDE: Final[dict[str, dict[str, object]]] = {"REDIS_URL": {"SESSION_BACKEND": "redis"}}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.key)
def test_every_setting_refuses_a_bad_value(config: dict[str, Any], setting: Setting) -> None:
    """No key goes unvalidated (MAX_CONTENT_LENGTH once did): each row refuses, naming itself."""
    assert setting.key in REFUSED, f"add a value that {setting.key} refuses to REFUSED"
    with pytest.raises(ConfigError) as refused:
        create_app({**config, **ALONGSIDE.get(setting.key, {}),
                    setting.key: REFUSED[setting.key]})
    assert refused.value.key == setting.key
    assert "\n" not in str(refused.value)


def test_each_key_is_one_row() -> None:
    keys = [setting.key for setting in SETTINGS]
    assert len(keys) == len(set(keys)) == len(DEFAULTS)
    assert not set(keys) & set(NOT_OFFERED)
    assert set(REFUSED) == set(keys)


def test_redis_url_is_only_checked_for_the_redis_backend(config: dict[str, Any]) -> None:
    app = create_app({**config, "SESSION_BACKEND": "cookie", "REDIS_URL": 6379})
    assert app.config["REDIS_URL"] == 6379


def test_a_refused_start_leaves_the_instance_folder_alone(tmp_path: Path) -> None:
    """The default database and the generated key are placed only once every row has passed."""
    with pytest.raises(ConfigError, match="LOGIN_THROTTLE"):
        create_app({"LOGIN_THROTTLE": "strict"})
    assert not (tmp_path / "instance").exists()


def readme_configuration_table() -> str:
    """The table in the README's "Configuration" section, from its header to its last row."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("\n## Configuration\n"):]
    lines = section[:section.index("\n## ", 1)].splitlines()
    table = lines[lines.index("| key | default | meaning |"):]
    return "\n".join(itertools.takewhile(lambda line: line.startswith("|"), table)) + "\n"


def test_the_readme_table_is_rendered_from_the_settings() -> None:
    expected = markdown_table()
    assert readme_configuration_table() == expected, (
        "README.md's configuration table differs from quart_app.config.SETTINGS; "
        f"replace it with:\n\n{expected}"
    )
