"""The shared conversation store: the PostgreSQL of ``[store] url`` (any number of processes,
on any machine).

LangGraph's ``AsyncPostgresSaver`` keeps the checkpoints, over a pool configured as it wants
(autocommit, no prepared statements, dict rows), with termmate's safe serializer; the
``termmate_threads`` table sits beside them. Turns on one thread take turns through a session
advisory lock (``agent.postgres.locks``), and a turn writes through the session that holds
it. A connection that drops is an error naming the database (``StoreUnavailable``); the pools
replace it for the next call.

Imported only when ``[store] url`` is set: the embedded stores never load psycopg.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row, tuple_row

from config import StoreSettings

from ._checkpoint_writes import TracksWrites
from .postgres.connect import Database
from .postgres.locks import CONNECTION_ERRORS, AdvisoryLock, turn_session
from .serde import PlainDataSerializer
from .threads import ThreadStore

# What AsyncPostgresSaver needs of its connections (see its from_conn_string).
_SAVER_CONNECTIONS = {"prepare_threshold": 0, "row_factory": dict_row}


class PostgresCheckpoints(TracksWrites, AsyncPostgresSaver):
    """AsyncPostgresSaver that writes a turn's checkpoints through the turn's locked session,
    reports a lost connection as StoreUnavailable (naming the database) and knows when a
    thread's writes have landed."""

    def __init__(self, pool: Any, turns: Any, database: Database) -> None:
        super().__init__(pool, serde=PlainDataSerializer())
        self._turns = turns
        self._database = database

    @contextlib.asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        # Every query of the saver goes through this one (private) method: the place to choose
        # the connection and to name the database on failure. Should a new version of
        # langgraph-checkpoint-postgres route around it, tests/agent/test_turn_locks.py fails.
        session = turn_session(self._turns)
        try:
            if session is None:
                async with super()._cursor(pipeline=pipeline) as cursor:
                    yield cursor
                return
            async with session.lock:
                conn = session.conn
                async with contextlib.AsyncExitStack() as stack:
                    if pipeline and self.supports_pipeline:
                        await stack.enter_async_context(conn.pipeline())
                    yield await stack.enter_async_context(
                        conn.cursor(binary=True, row_factory=dict_row)
                    )
        except CONNECTION_ERRORS as exc:
            raise self._database.unavailable(exc, "use") from None


class PostgresThreads:
    """``agent.threads.ThreadBackend`` on PostgreSQL."""

    def __init__(self, database: Database, pool: Any, turns: Any) -> None:
        self.where = database.where
        self.checkpointer = PostgresCheckpoints(pool, turns, database)
        self._database = database
        self._pool = pool
        self._turns = turns

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """The running turn's session (its writes go where its lock is), else a pooled one."""
        session = turn_session(self._turns)
        try:
            if session is None:
                async with self._pool.connection() as conn:
                    yield conn
            else:
                async with session.lock:
                    yield session.conn
        except CONNECTION_ERRORS as exc:
            raise self._database.unavailable(exc, "use") from None

    async def _run(self, sql: str, params: Sequence[Any], rows: int | None) -> list[Any]:
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=tuple_row)
            await cursor.execute(_placeholders(sql), params)
            if rows is None:
                return []
            return list(await (cursor.fetchmany(rows) if rows else cursor.fetchall()))

    async def prepare(self) -> None:
        await self.checkpointer.setup()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._run(sql, params, None)  # autocommit: it lasts once it has run

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self._run(sql, params, 1)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(sql, params, 0)

    async def columns(self, table: str) -> set[str]:
        rows = await self.fetch_all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {row[0] for row in rows}

    def turn_lock(self, thread_id: str) -> AdvisoryLock:
        return AdvisoryLock(self._database, self._turns, "thread:" + thread_id)

    async def aclose(self) -> None:
        for pool in (self._turns, self._pool):
            with contextlib.suppress(Exception):
                await pool.close()


def _placeholders(sql: str) -> str:
    """The store's portable SQL ("?" for each value) in psycopg's spelling ("%s")."""
    if "%" in sql:  # psycopg would read it as a placeholder: the portable SQL has none
        raise ValueError(f"unexpected '%' in portable SQL: {sql!r}")
    return sql.replace("?", "%s")


async def open_postgres_threads(settings: StoreSettings, *, user_id: str) -> ThreadStore:
    """Connect to the database of ``settings.url`` and create what is missing (one process at
    a time). Raises StoreUnavailable naming the host (never the password); nothing is left
    open on failure."""
    database = Database(settings)
    # The set-up lock's single connection comes first: an unreachable database is said at
    # once, where a pool would go on retrying until its timeout.
    async with database.setup_lock():
        pool = await database.pool(name="threads", **_SAVER_CONNECTIONS)
        turns = None
        try:
            # Turns hold a connection each for their whole run: a pool of their own, so that
            # many turns at once never starve listings and reads.
            turns = await database.pool(name="turns", **_SAVER_CONNECTIONS)
            store = ThreadStore(PostgresThreads(database, pool, turns))
            await store.setup(owner_of_old_threads=user_id)
        except BaseException as exc:
            for opened in (turns, pool):
                if opened is not None:
                    with contextlib.suppress(Exception):
                        await opened.close()
            if isinstance(exc, psycopg.Error):
                raise database.unavailable(exc, "set up") from None
            raise
    return store
