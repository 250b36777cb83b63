"""What identity's verbs announce: one blinker signal per security event.

The verbs (``identity``) send; side effects subscribe. The audit log is the
first subscriber; metrics or a notification mail would be the next, without
touching a verb. Receivers get the app as the sender and the event's fields
as keyword arguments (``user_id``, ``session`` — a reference, never a
secret —, and what the event adds). A verb run from the operator's CLI sends
the same signal outside any request.
"""

from enum import StrEnum
from typing import Any, Final

from blinker import NamedSignal, Namespace
from quart import current_app

type Value = str | int | bool | None


class Event(StrEnum):
    """What happened: each is a signal's name and the ``event`` field of an audit record."""

    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGIN_THROTTLED = "login.throttled"
    LOGOUT = "logout"
    REGISTERED = "account.registered"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 - an event name
    PASSWORD_CONFIRMATION_FAILED = "password.confirmation_failed"  # noqa: S105 - an event name
    ACCOUNT_DELETED = "account.deleted"
    SESSION_REVOKED = "session.revoked"
    OTHER_SESSIONS_ENDED = "sessions.others_ended"
    ALL_SESSIONS_ENDED = "sessions.all_ended"
    SESSION_REFUSED = "session.refused"


_namespace: Final = Namespace()
SIGNALS: Final[dict[Event, NamedSignal]] = {event: _namespace.signal(event.value)
                                            for event in Event}


def emit(event: Event, **fields: Value) -> None:
    """Announce ``event`` to every subscriber, with the current app as the sender."""
    details: dict[str, Any] = fields  # blinker types its keyword arguments as its own options
    SIGNALS[event].send(current_app._get_current_object(), **details)
