"""The seam for server-side session stores: a small protocol every store implements.

Modelled on Django's ``SessionBase`` (``must_create`` versus update-only saves)
and Flask-Session's server-side interface, without their faults: a record's
lifetime is whatever the session policy allows (never one fixed TTL), and an
update can never bring back a record that was deleted while a request was in
flight. Records are opaque strings here; serialising them is the session
interface's job. Every store keeps an index of each user's session ids so
one user's sessions can be listed and ended together; anonymous records
are in no index.

``SessionStoreBase`` keeps the rules every store shares, as Flask-Session's
server-side interface does, so an implementation is its atomic primitives.
"""

import time
from abc import ABC, abstractmethod
from typing import Final, Protocol

# 32 random bytes from ``secrets``, base64url without padding: 256 bits.
SESSION_ID_BYTES: Final = 32
SESSION_ID_LENGTH: Final = 43


class SessionStoreUnavailableError(Exception):
    """The store did not answer in time or refused the connection."""


class SessionStore(Protocol):
    """Where server-side session records live; every method may raise ``…UnavailableError``."""

    async def load(self, session_id: str) -> str | None:
        """The record, or None when it does not exist or has expired; never creates one."""
        ...

    async def save(self, session_id: str, record: str, user_id: int | None, expires_at: int,
                   *, must_create: bool, kept_until: int | None = None) -> bool:
        """Write a record that expires at ``expires_at`` (epoch seconds).

        ``user_id`` files the record in that user's index; None (an anonymous
        visitor's data) files it nowhere.

        ``kept_until`` (later than ``expires_at``; the default is the same
        time) keeps the record loadable that much longer, so the session's
        end can be explained to its device: the record still leaves the
        user's index at ``expires_at``, and the policy refuses it when read.

        ``must_create``: succeed only if the id is unused (a new session).
        Otherwise succeed only if the record still exists (an update), so a
        request in flight while its session was revoked cannot resurrect it.
        Returns whether the record was written.
        """
        ...

    async def delete(self, session_id: str, *, ending: str | None = None) -> None:
        """Remove one record (logout, rotation); a missing one is not an error.

        With ``ending``, a note of it stays under the id for as long as the
        record would have been kept, for ``ending`` to read; without, nothing.
        """
        ...

    async def ending(self, session_id: str) -> str | None:
        """The ``ending`` a delete left under this id while it lasts, else None.

        Readable only with the id, a bearer secret: nobody but the session's
        own browser learns why it ended.
        """
        ...

    async def user_session_ids(self, user_id: int) -> list[str]:
        """The ids of one user's live sessions, sorted; expired ones are dropped from the index."""
        ...

    async def delete_user_sessions(self, user_id: int, *, ending: str | None = None) -> int:
        """End every live session of one user, leaving ``ending`` as ``delete`` does; returns
        how many were removed. A record past its ``expires_at`` but still kept is left
        alone: it ended first, by its own time, and says so."""
        ...

    async def ping(self) -> None:
        """Raise ``SessionStoreUnavailableError`` unless the store answers (health checks)."""
        ...

    async def open(self) -> None:
        """Connect at start-up, inside the serving event loop."""
        ...

    async def close(self) -> None:
        """Release connections at shutdown."""
        ...


class SessionStoreBase(ABC):
    """The shared rule of ``save``: a record whose time is up is never stored."""

    async def save(self, session_id: str, record: str, user_id: int | None, expires_at: int,
                   *, must_create: bool, kept_until: int | None = None) -> bool:
        """``SessionStore.save``, refusing an ``expires_at`` that is not in the future.

        An update then deletes the record and returns False (the session has
        ended, as if it had expired); a creation raises ``ValueError``,
        because callers read False from a creation as an id collision and
        would retry forever with new ids.
        """
        now = time.time()
        if expires_at <= now:
            if must_create:
                raise ValueError(f"a new session must expire in the future, not at {expires_at}")
            await self.delete(session_id)
            return False
        return await self.write(session_id, record, user_id, expires_at,
                                max(expires_at, kept_until or expires_at), now,
                                must_create=must_create)

    @abstractmethod
    async def write(self, session_id: str, record: str, user_id: int | None, expires_at: int,
                    kept_until: int, now: float, *, must_create: bool) -> bool:
        """The store's atomic create-or-update of a live record, as ``save`` describes it."""

    @abstractmethod
    async def delete(self, session_id: str, *, ending: str | None = None) -> None:
        """Remove one record, leaving ``ending`` if given; a missing one is not an error."""
