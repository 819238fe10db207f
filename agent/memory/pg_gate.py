"""The write gate across processes: writes in every process share it, a reindex holds it alone.

On a shared store every process writes directly, so gate.WriteGate (one event loop) is not
enough: a reindex in one process would wipe a write another process lands between its snapshot
and its rebuild. Here each write also holds a PostgreSQL advisory lock in shared mode and a
reindex holds it exclusively, each on a connection of its own for the whole run. PostgreSQL
queues lock requests in order, so a waiting reindex holds back writes that come after it, as
the local gate does; a process that dies lets go of its locks with its connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg_pool

from agent.postgres import Database, StoreUnavailable, advisory_key

from .errors import MemoryUnavailable
from .gate import WriteGate

_KEY = advisory_key("memory-writes")


class SharedWriteGate(WriteGate):
    """gate.WriteGate, extended to every process on the database (see the module's docstring)."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self._database = database
        self._pool: Any = None

    async def open(self) -> None:
        """Connect (StoreUnavailable, naming the host, when the database cannot be reached)."""
        if self._pool is None:
            self._pool = await self._database.pool(name="memory-gate")

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        async with super().write(), self._held("pg_advisory_lock_shared"):
            yield

    @contextlib.asynccontextmanager
    async def reindex(self) -> AsyncIterator[None]:
        async with super().reindex(), self._held("pg_advisory_lock"):
            yield

    @contextlib.asynccontextmanager
    async def _held(self, take: str) -> AsyncIterator[None]:
        try:
            await self.open()
            # A write holds a connection of the pool ([store] pool_size) while it runs; one that
            # finds none free within connect_timeout_s fails rather than queueing unseen.
            async with self._pool.connection() as conn, self._lock(conn, take):
                yield
        except StoreUnavailable as exc:
            raise MemoryUnavailable(exc.reason) from None
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            # The pool replaces a dropped connection: the next write reconnects.
            raise MemoryUnavailable(self._database.unavailable(exc, "reach").reason) from None

    @contextlib.asynccontextmanager
    async def _lock(self, conn: Any, take: str) -> AsyncIterator[None]:
        """Hold the advisory lock ``take`` names on ``conn`` while the block runs."""
        release = take.replace("_lock", "_unlock")
        try:
            await conn.execute(f"SELECT {take}(%s)", (_KEY,))  # our constant names only
        except BaseException:
            # Cancelled (or failed) while waiting: the lock may have been granted as we
            # gave up. Closing the connection lets go of it; the pool replaces it.
            await conn.close()
            raise
        try:
            yield
        finally:
            try:
                await conn.execute(f"SELECT {release}(%s)", (_KEY,))
            except Exception:
                await conn.close()  # the server lets go of a closed session's locks
            except BaseException:
                await conn.close()
                raise
