"""Server-side session rules: what a session holds and when it ends, logged in or not.

The rules work on the session mapping alone, so they hold for every session
backend: the signed cookie stores the mapping in the browser, a server-side
store keeps it elsewhere, and neither can stretch a lifetime the server
refuses. Every session that holds data, a login or only a visitor's own keys
(a theme, a cart, a flashed message), carries when it started and when it
was last used, and the same three limits apply to all of them. Times are
whole seconds since the epoch.

The product's own fields live under reserved keys that start with ``_``, as
Flask's own ``_permanent`` and ``_flashes`` and Flask-Login's ``_user_id``
do, so a view's ``session["name"]`` can never disturb a login.
"""

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from quart.sessions import SessionMixin

from ..users import USERNAME_MAX_LENGTH

USER_ID: Final = "_user_id"
USERNAME: Final = "_username"
VERSION: Final = "_version"
STARTED: Final = "_started"
LAST_SEEN: Final = "_seen"
CSRF_TOKEN: Final = "_csrf"  # noqa: S105 - a session key
# Why this browser's login ended, kept for the login page to say (and dropped at the next login).
ENDED: Final = "_ended"
PERMANENT: Final = "_permanent"  # Quart's own key behind ``session.permanent``
LOGIN_KEYS: Final = (USER_ID, USERNAME, VERSION, CSRF_TOKEN)
# What the policy itself keeps: a session holding only these holds no data.
BOOKKEEPING: Final = frozenset({STARTED, LAST_SEEN, PERMANENT})
RESERVED: Final = BOOKKEEPING | frozenset(LOGIN_KEYS) | {ENDED}

# Activity is written back at most once a minute, so most requests neither
# re-sign nor re-send the cookie; idle limits are therefore exact to a minute.
ACTIVITY_RESOLUTION: Final = 60
# Ids and versions are SQL INTEGER columns (32-bit on PostgreSQL).
MAX_ID: Final = 2**31 - 1
# Machines behind one load balancer may disagree on the time by this much.
CLOCK_SKEW: Final = 60


class Verdict(StrEnum):
    """Why a session is or is not accepted."""

    ANONYMOUS = "anonymous"
    VALID = "valid"
    MALFORMED = "malformed"
    IDLE = "idle timeout"
    ABSOLUTE = "absolute timeout"
    LIFETIME = "remember-me lifetime"


class Ending(StrEnum):
    """Why a login ended without its browser logging out: what that browser is told next.

    Only the browser holding the session learns it (from its own signed
    cookie, or from a note kept under its secret id), never anyone else.
    """

    ENDED_ELSEWHERE = "ended-elsewhere"
    ENDED_BY_OPERATOR = "ended-by-operator"
    TOO_MANY = "too-many-sessions"
    PASSWORD_CHANGED = "password-changed"  # noqa: S105 - a reason, not a password
    ACCOUNT_DELETED = "account-deleted"
    IDLE = "idle"
    ABSOLUTE = "absolute"
    LIFETIME = "lifetime"

    @classmethod
    def named(cls, value: object) -> "Ending | None":
        """The ending a stored value names, or None for anything else: a note, a database
        row or a session key is data, and reading data never crashes."""
        return cls(value) if isinstance(value, str) and value in cls._value2member_map_ else None


# The endings the lifetimes decide, by the verdict that refused the session.
TIMED_OUT: Final = {Verdict.IDLE: Ending.IDLE, Verdict.ABSOLUTE: Ending.ABSOLUTE,
                    Verdict.LIFETIME: Ending.LIFETIME}


def holds_data(session: Mapping[str, Any]) -> bool:
    """Whether anything but the policy's own bookkeeping is in the session."""
    return any(key not in BOOKKEEPING for key in session)


def visitor_data(session: Mapping[str, Any]) -> dict[str, Any]:
    """The keys the application's views wrote: what a login keeps (Django's ``cycle_key``)."""
    return {key: value for key, value in session.items() if key not in RESERVED}


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """The three limits from the configuration, applied on every request, and how long
    past them a session can still be read to tell its browser why it ended."""

    idle_timeout: timedelta
    absolute_timeout: timedelta
    permanent_lifetime: timedelta
    end_notice: timedelta = timedelta(0)

    def start(self, session: SessionMixin, user_id: int, username: str, version: int,
              *, remember: bool) -> None:
        """Add a login to a session whose reserved keys were just dropped."""
        now = int(time.time())
        session[USER_ID] = user_id
        session[USERNAME] = username
        session[VERSION] = version
        session[STARTED] = now
        session[LAST_SEEN] = now
        session[CSRF_TOKEN] = secrets.token_urlsafe(32)
        if remember:
            session.permanent = True
        else:
            session.pop(PERMANENT, None)

    def stamp(self, session: SessionMixin) -> None:
        """Before a write: date a session's first data, and empty one that holds none.

        A session whose views removed every key of their own is not kept
        (no cookie, no record), even though its dates are still in it.
        """
        if not holds_data(session):
            if session:
                session.clear()
            return
        if STARTED not in session:
            now = int(time.time())
            session[STARTED] = now
            session[LAST_SEEN] = now

    def check(self, session: SessionMixin) -> Verdict:
        """Decide whether a session may still be used; the cookie's Expires is not trusted."""
        if not holds_data(session):
            return Verdict.ANONYMOUS
        now = time.time()
        if not _dates_well_formed(session, now):
            return Verdict.MALFORMED
        if any(key in session for key in LOGIN_KEYS) and not _login_well_formed(session):
            return Verdict.MALFORMED
        started: int = session[STARTED]
        last_seen: int = session[LAST_SEEN]
        if now - started > self.absolute_timeout.total_seconds():
            return Verdict.ABSOLUTE
        if session.permanent:
            if now - last_seen > self.permanent_lifetime.total_seconds():
                return Verdict.LIFETIME
        elif now - last_seen > self.idle_timeout.total_seconds():
            return Verdict.IDLE
        return Verdict.VALID if USER_ID in session else Verdict.ANONYMOUS

    def touch(self, session: SessionMixin) -> None:
        """Record activity so idle and remember-me lifetimes slide, once a minute at most."""
        if LAST_SEEN not in session:
            return
        now = int(time.time())
        if now - int(session[LAST_SEEN]) >= ACTIVITY_RESOLUTION:
            session[LAST_SEEN] = now

    def signature_max_age(self) -> int:
        """The oldest cookie signature worth reading; ``check`` decides the rest.

        Every request that records activity re-signs the cookie, so a live
        session's signature is never older than its longest sliding window;
        one that ended is read ``end_notice`` longer, to say why.
        """
        longest = max(self.permanent_lifetime, self.idle_timeout) + self.end_notice
        return int(longest.total_seconds()) + ACTIVITY_RESOLUTION

    def kept_until(self, session: Mapping[str, Any]) -> int:
        """How long a store keeps this session's record: a login's ``end_notice`` past its
        expiry, so its browser can be told it timed out; a visitor's data no longer."""
        expires_at = self.expires_at(session)
        if USER_ID not in session:
            return expires_at
        return expires_at + int(self.end_notice.total_seconds())

    def expires_at(self, session: Mapping[str, Any]) -> int:
        """When the server will stop accepting this session if it sees no more activity."""
        window = self.permanent_lifetime if session.get(PERMANENT) else self.idle_timeout
        return min(
            int(session[STARTED]) + int(self.absolute_timeout.total_seconds()),
            int(session[LAST_SEEN]) + int(window.total_seconds()),
        )


def _is_whole(value: object, low: int, high: float) -> bool:
    """An int (never a bool, float or string) within [low, high]."""
    return type(value) is int and low <= value <= high


def _dates_well_formed(session: SessionMixin, now: float) -> bool:
    """Check the dates every session with data carries: a reader must never crash on data.

    A signed cookie holds only what this server wrote, yet a leaked or old key,
    a bug in another version or a store edited by hand must still end in an
    anonymous visitor, never a 500 or a session from the future.
    """
    started = session.get(STARTED)
    last_seen = session.get(LAST_SEEN)
    latest = now + CLOCK_SKEW
    return (
        _is_whole(started, 1, latest)
        and _is_whole(last_seen, 1, latest)
        and started <= last_seen  # type: ignore[operator]
        and isinstance(session.get(PERMANENT, False), bool)
    )


def _login_well_formed(session: SessionMixin) -> bool:
    """Check a login's fields: all present, each of its type and range."""
    name = session.get(USERNAME)
    return (
        _is_whole(session.get(USER_ID), 1, MAX_ID)
        and _is_whole(session.get(VERSION), 1, MAX_ID)
        and isinstance(name, str) and 0 < len(name) <= USERNAME_MAX_LENGTH
        and isinstance(session.get(CSRF_TOKEN), str)
    )
