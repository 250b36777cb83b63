"""The audit log: one structured line per security event, for people and for log shippers.

Logins that succeed or fail, logouts, revoked sessions, password changes,
deleted accounts, wrong passwords on the account pages and throttle trips each
write exactly one record to the ``quart_app.audit`` logger (ASVS 16.3). A
record carries the event, the user id where one is known, the client address
and ``session``: a keyed hash of the session's secret, so lines about one
session can be joined while the secret itself, a bearer credential, can be
neither read back nor replayed. A password, a cookie or a raw session id never
reaches a record. No verb writes here: the log subscribes, once, to the signals
identity's verbs send (``events``), from a page or from the operator's CLI.

The text form (``AUDIT_LOG_FORMAT = "text"``) is ``key=value`` pairs after the
app's usual log prefix; ``"json"`` writes one JSON object per line, and nothing
else on it, for log shippers.
"""

import hashlib
import hmac
import json
import logging
import sys
from datetime import UTC, datetime
from functools import partial
from typing import Final

from quart import Quart, current_app, has_request_context, request

from .events import SIGNALS, Event, Value

AUDIT_LOGGER: Final = "quart_app.audit"
FORMATS: Final = ("text", "json")
EXTENSION_KEY: Final = "quart_app.audit_key"
REFERENCE_CONTEXT: Final = b"quart_app audit log: session reference"
REFERENCE_LENGTH: Final = 16

log = logging.getLogger(AUDIT_LOGGER)

WARNINGS: Final = frozenset({Event.LOGIN_FAILED, Event.LOGIN_THROTTLED,
                             Event.PASSWORD_CONFIRMATION_FAILED})


def init_app(app: Quart) -> None:
    """Derive the app's reference key once, so a session hashes alike in every worker."""
    key: bytes = app.config["SECRET_KEY"]  # bytes once the configuration is validated
    app.extensions[EXTENSION_KEY] = hmac.new(key, REFERENCE_CONTEXT, hashlib.sha256).digest()


def session_reference(secret: str | None) -> str | None:
    """The session's name in the log: HMAC-SHA256 of its secret, keyed from ``SECRET_KEY``.

    A plain hash of a 256-bit id would be safe too; the key also keeps a log
    reader from checking a stolen id against the log.
    """
    if not secret:
        return None
    key: bytes = current_app.extensions[EXTENSION_KEY]
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()[:REFERENCE_LENGTH]


def write(event: Event, sender: Quart, *, user_id: int | None = None,
          session: str | None = None, **details: Value) -> None:
    """Write one audit line for an event identity announced; ``session`` is a reference.

    In a request the client's address is added; outside one the verb was
    run by the operator's CLI, and the record says ``actor=cli``.
    """
    in_request = has_request_context()
    fields: dict[str, Value] = {
        "event": str(event), "user_id": user_id, "session": session,
        "remote": request.remote_addr if in_request else None,
        "actor": None if in_request else "cli", **details,
    }
    present: dict[str, Value] = {k: v for k, v in fields.items() if v is not None}
    level = logging.WARNING if event in WARNINGS else logging.INFO
    log.log(level, "%s", as_text(present), extra={"audit": present})


for _event, _signal in SIGNALS.items():  # subscribed once per process, for every app
    _signal.connect(partial(write, _event), weak=False)


def as_text(fields: dict[str, Value]) -> str:
    """``key=value`` pairs; a value with a space, quote or control character is JSON-quoted."""
    return " ".join(f"{name}={_text_value(value)}" for name, value in fields.items())


def _text_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return json.dumps(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per audit record: time, level, process, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record's ``audit`` fields; the message text is not repeated."""
        fields: dict[str, Value] = getattr(record, "audit", {"message": record.getMessage()})
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "pid": record.process,
            **fields,
        }
        return json.dumps(line, separators=(",", ":"))


def configure_json_output() -> None:
    """Send audit records to stderr as JSON lines, apart from the app's other records."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.propagate = False
