"""The embedded conversation store: ``threads.sqlite`` in the data dir (one machine).

LangGraph's SQLite checkpointer and the ``termmate_threads`` table share one aiosqlite
connection; turns between processes take turns through a ``flock`` per thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import CorruptData
from .turn_locks import FlockTurnLock

_SQLITE_HEADER = b"SQLite format 3\x00"


class SqliteThreads:
    """``agent.threads.ThreadBackend`` on ``threads.sqlite``."""

    def __init__(self, conn: Any, path: Path, locks: Path) -> None:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        from ._checkpoint_writes import TracksWrites
        from .serde import PlainDataSerializer

        class SqliteCheckpoints(TracksWrites, AsyncSqliteSaver):
            """AsyncSqliteSaver that knows when a thread's writes have landed."""

        self.conn = conn
        """The aiosqlite connection (the checkpointer's own)."""
        self.where = str(path)
        self.checkpointer = SqliteCheckpoints(conn, serde=PlainDataSerializer())
        self._locks = locks

    async def prepare(self) -> None:
        await self.checkpointer.setup()  # WAL mode and LangGraph's tables
        # In WAL mode, NORMAL survives any crash of the process (SIGKILL included); only a
        # power cut may lose the last turn. It spares an fsync on each of a turn's commits.
        await self.conn.execute("PRAGMA synchronous=NORMAL")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.conn.execute(sql, params)
        await self.conn.commit()

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        async with self.conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.conn.execute(sql, params) as cursor:
            return [tuple(row) async for row in cursor]

    async def columns(self, table: str) -> set[str]:
        async with self.conn.execute("SELECT name FROM pragma_table_info(?)", (table,)) as cursor:
            return {row[0] async for row in cursor}

    def turn_lock(self, thread_id: str) -> FlockTurnLock:
        return FlockTurnLock(self._locks / f"{thread_id}.lock")

    async def aclose(self) -> None:
        await self.conn.close()


async def open_sqlite_threads(path: Path, locks: Path, *, read_only: bool = False) -> SqliteThreads:
    """Connect to ``path`` (created when missing; ``read_only``: never written, for copying it
    elsewhere). Raises CorruptData when it is certainly no SQLite database, before LangGraph
    is even imported; nothing is left open on failure."""
    if not _looks_like_sqlite(path):  # said at once, before LangGraph is even imported
        raise not_a_database(path, "file is not a database")
    import aiosqlite

    if read_only:
        conn = aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    else:
        conn = aiosqlite.connect(str(path), timeout=10)
    try:
        await conn
    except BaseException:
        # aiosqlite stops its thread when connecting fails, and that thread then reports back
        # to this event loop: wait for it, or it finds the loop closed and prints a traceback.
        await asyncio.to_thread(conn._thread.join, 5.0)
        raise
    try:
        return SqliteThreads(conn, path, locks)
    except BaseException:
        await conn.close()
        raise


def damaged(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is no (intact) SQLite database, rather than that it
    cannot be opened now (locked, read-only, ...)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def _looks_like_sqlite(path: Path) -> bool:
    """False for a file that is certainly no SQLite database (a missing or empty file is a new
    one); unreadable files are left to SQLite to report."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError:
        return True
    return not head or head == _SQLITE_HEADER


def not_a_database(path: Path, why: str) -> CorruptData:
    """The error for a threads file that cannot be read as a database (kept as it is)."""
    return CorruptData(
        f"{path} cannot be read as termmate's conversation database ({why}). Move it aside "
        f"(e.g. mv {path} {path}.broken) and termmate starts a new one; it never deletes the "
        "file itself"
    )
