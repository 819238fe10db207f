"""Turn order across machines: a PostgreSQL session advisory lock per thread.

A turn takes ``pg_advisory_lock(advisory_key("thread:" + thread_id))`` on a connection of its
own and keeps that connection for its whole run; unlocking and handing the connection back end
it. PostgreSQL frees the lock when the session ends, so a process that dies (SIGKILL, a
machine that goes away) never leaves a conversation locked.

The turn also *writes* through that connection (``TurnSession``, found through a context
variable by the checkpointer and the thread metadata): a turn whose connection dropped has
lost its lock, and so it can no longer save anything, instead of writing beside the next
holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .connect import Database, advisory_key

log = logging.getLogger(__name__)

CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
"""What a dropped, refused or exhausted connection raises (psycopg_pool.PoolTimeout included);
other psycopg errors are mistakes in the SQL, not the database's state."""


@dataclass(eq=False)
class TurnSession:
    """The connection a turn holds its thread's lock on, while it holds it."""

    pool: Any
    """The pool the connection came from: it tells whose session this is."""
    conn: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One statement (or pipeline) at a time on the connection."""
    active: bool = True
    """False once the turn has ended: work that outlives it (a job it queued inherits its
    context) goes back to the pool."""


_TURN_SESSION: ContextVar[TurnSession | None] = ContextVar("termmate_turn_session", default=None)


def turn_session(pool: Any) -> TurnSession | None:
    """The running turn's session on ``pool``'s database, if this code runs inside a turn."""
    session = _TURN_SESSION.get()
    if session is None or not session.active or session.pool is not pool:
        return None
    return session


class AdvisoryLock:
    """One thread's lock (``agent.turn_locks.SharedLock``): acquire, bind, release."""

    def __init__(self, database: Database, pool: Any, name: str) -> None:
        self._database = database
        self._pool = pool
        self._key = advisory_key(name)
        self._session: TurnSession | None = None

    async def acquire(self) -> None:
        """Wait for the lock (cancellable: a waiter called off leaves no connection behind)."""
        try:
            conn = await self._pool.getconn()
        except CONNECTION_ERRORS as exc:
            raise self._database.unavailable(exc, "use") from None
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (self._key,))
        except BaseException as exc:
            await self._give_back_holding_nothing(conn)
            if isinstance(exc, CONNECTION_ERRORS):
                raise self._database.unavailable(exc, "use") from None
            raise
        self._session = TurnSession(self._pool, conn)

    def bind(self) -> None:
        """Called in the turn's own context before it runs: its writes go through the locked
        session from now on."""
        _TURN_SESSION.set(self._session)

    async def release(self) -> None:
        """Unlock and hand the connection back (a dropped one is replaced by the pool)."""
        session, self._session = self._session, None
        if session is None:
            return
        session.active = False
        async with session.lock:
            try:
                await session.conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except Exception as exc:  # the connection is gone, and the lock with it
                log.info("could not unlock a turn's thread (%s): closing its session", exc)
                await self._discard(session.conn)
                return
        await self._pool.putconn(session.conn)

    async def _give_back_holding_nothing(self, conn: Any) -> None:
        """Return a connection whose wait was called off (or failed). The server may have
        granted the lock just as the wait was cancelled, so the session lets go of every lock
        first; one that cannot is closed instead (closing a session frees its locks)."""
        try:
            await conn.execute("SELECT pg_advisory_unlock_all()")
        except BaseException:  # dropped, or cancelled again: the caller re-raises its own
            await self._discard(conn)
            return
        await self._pool.putconn(conn)

    async def _discard(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            await conn.close()
        with contextlib.suppress(Exception):
            await self._pool.putconn(conn)  # the pool sees it closed and opens another
