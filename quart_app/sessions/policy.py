"""Server-side session rules: what a logged-in session holds and when it ends.

The rules work on the session mapping alone, so they hold for every session
backend: the signed cookie stores the mapping in the browser, a server-side
store keeps it elsewhere, and neither can stretch a lifetime the server
refuses. Times are whole seconds since the epoch.
"""

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from quart.sessions import SessionMixin

USER_ID: Final = "uid"
USERNAME: Final = "name"
VERSION: Final = "ver"
LOGGED_IN_AT: Final = "iat"
LAST_SEEN: Final = "seen"
CSRF_TOKEN: Final = "csrf"  # noqa: S105 - a session key
PERMANENT: Final = "_permanent"  # Quart's own key behind ``session.permanent``

# Activity is written back at most once a minute, so most requests neither
# re-sign nor re-send the cookie; idle limits are therefore exact to a minute.
ACTIVITY_RESOLUTION: Final = 60
# Ids and versions are SQL INTEGER columns (32-bit on PostgreSQL).
MAX_ID: Final = 2**31 - 1
MAX_USERNAME_LENGTH: Final = 64
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


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """The three limits from the configuration, applied on every request."""

    idle_timeout: timedelta
    absolute_timeout: timedelta
    permanent_lifetime: timedelta

    def start(self, session: SessionMixin, user_id: int, username: str, version: int,
              *, remember: bool) -> None:
        """Fill a freshly cleared session for a user who just proved who they are."""
        now = int(time.time())
        session[USER_ID] = user_id
        session[USERNAME] = username
        session[VERSION] = version
        session[LOGGED_IN_AT] = now
        session[LAST_SEEN] = now
        session[CSRF_TOKEN] = secrets.token_urlsafe(32)
        if remember:
            session.permanent = True

    def check(self, session: SessionMixin) -> Verdict:
        """Decide whether a session is still a login; the cookie's Expires is not trusted."""
        if USER_ID not in session:
            # The app never keeps a session without a login, so one that holds anything else
            # (a leftover signed by an older version, say) is refused and its cookie deleted.
            return Verdict.MALFORMED if session else Verdict.ANONYMOUS
        now = time.time()
        if not _well_formed(session, now):
            return Verdict.MALFORMED
        logged_in_at: int = session[LOGGED_IN_AT]
        last_seen: int = session[LAST_SEEN]
        if now - logged_in_at > self.absolute_timeout.total_seconds():
            return Verdict.ABSOLUTE
        if session.permanent:
            if now - last_seen > self.permanent_lifetime.total_seconds():
                return Verdict.LIFETIME
        elif now - last_seen > self.idle_timeout.total_seconds():
            return Verdict.IDLE
        return Verdict.VALID

    def touch(self, session: SessionMixin) -> None:
        """Record activity so idle and remember-me lifetimes slide, once a minute at most."""
        now = int(time.time())
        if now - int(session[LAST_SEEN]) >= ACTIVITY_RESOLUTION:
            session[LAST_SEEN] = now

    def signature_max_age(self) -> int:
        """The oldest cookie signature worth reading; ``check`` decides the rest.

        Every request that records activity re-signs the cookie, so a live
        session's signature is never older than its longest sliding window.
        """
        longest = max(self.permanent_lifetime, self.idle_timeout)
        return int(longest.total_seconds()) + ACTIVITY_RESOLUTION

    def expires_at(self, session: SessionMixin) -> int:
        """When the server will stop accepting this session if it sees no more activity."""
        window = self.permanent_lifetime if session.permanent else (
            self.idle_timeout
        )
        return min(
            int(session[LOGGED_IN_AT]) + int(self.absolute_timeout.total_seconds()),
            int(session[LAST_SEEN]) + int(window.total_seconds()),
        )


def _is_whole(value: object, low: int, high: float) -> bool:
    """An int (never a bool, float or string) within [low, high]."""
    return type(value) is int and low <= value <= high


def _well_formed(session: SessionMixin, now: float) -> bool:
    """Check every field's type and range: a reader must never crash on data.

    A signed cookie holds only what this server wrote, yet a leaked or old key,
    a bug in another version or a store edited by hand must still end in an
    anonymous visitor, never a 500 or a session from the future.
    """
    name = session.get(USERNAME)
    logged_in_at = session.get(LOGGED_IN_AT)
    last_seen = session.get(LAST_SEEN)
    latest = now + CLOCK_SKEW
    return (
        _is_whole(session.get(USER_ID), 1, MAX_ID)
        and _is_whole(session.get(VERSION), 1, MAX_ID)
        and isinstance(name, str) and 0 < len(name) <= MAX_USERNAME_LENGTH
        and _is_whole(logged_in_at, 1, latest)
        and _is_whole(last_seen, 1, latest)
        and logged_in_at <= last_seen  # type: ignore[operator]
        and isinstance(session.get(CSRF_TOKEN, ""), str)
        and isinstance(session.get(PERMANENT, False), bool)
    )
