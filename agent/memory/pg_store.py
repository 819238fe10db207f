"""The memory store in PostgreSQL with pgvector (``[store] url``): shared by every process on
every machine that names the database, each opening it itself (no owner, no relay).

The tiers are two tables (pg_vectors.py) mem0 writes through its pgvector provider; the record
of the model that built them is a table instead of store.json, and a reindex rebuilds both in
one transaction instead of from reindex.jsonl (pg_tiers.py). Writes take turns with a reindex
in any process through advisory locks (pg_gate.py); every change is announced to the other
processes and theirs are heard (pg_changes.py). The vocabulary is the same table as on disk.
What every store does is in store_core.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

import psycopg
import psycopg_pool
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

from agent.postgres import Database, StoreUnavailable
from config import Settings

from . import pg_tiers
from .errors import MemoryUnavailable
from .events import MemoryChanged, Tier
from .operations import Progress
from .pg_changes import ChangeFeed, Heard
from .pg_gate import SharedWriteGate
from .pg_vectors import create_tier, table_of
from .schemas import TIERS
from .store_core import Settled, StoreCore
from .store_embedder import Embedder

log = logging.getLogger(__name__)

T = TypeVar("T")
_DB_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
"""A database that went away or cannot be reached: the call fails, the next one reconnects."""


class PgMemoryStore(StoreCore):
    """One memory store in PostgreSQL, open in this process as in every other."""

    role: ClassVar[Literal["owner", "shared"]] = "shared"

    def __init__(self, settings: Settings, embedder: Embedder | None, **options: Any) -> None:
        self.database = Database(settings.store)
        self.gate = SharedWriteGate(self.database)
        super().__init__(settings, embedder, writes=self.gate, **options)
        self._pool: Any = None
        self._vector_type: Any = None
        self._count = 0
        self._feed = ChangeFeed(self.database, self._deliver, self._recount)

    @property
    def location(self) -> str:
        return self.database.where

    @property
    def pool(self) -> Any:
        """The store's connection pool (psycopg_pool.ConnectionPool), for tools that load
        many memories at once (benchmarks, a migration)."""
        return self._pool

    @property
    def closed(self) -> bool:
        return self._closed or self._pool is None

    # -- opening and closing ------------------------------------------------------------------

    async def open(self) -> None:
        """Listen for other processes' changes first (none is missed), then open the tables."""
        await self._feed.start()
        await self.gate.open()
        await super().open()

    def _open_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        from .vocabulary import VocabularyManager

        self._bind_mem0(loop)
        database = self.database
        try:
            with database.setup_lock_sync() as conn:
                database.ensure_vector(conn)
                pg_tiers.create_meta(conn)
                meta = pg_tiers.read_meta(conn)
                self.dims = None if meta is None else meta.dims
                self.vocabulary = VocabularyManager.open_postgres(
                    lambda: database.connect_sync(autocommit=False)
                )
        except psycopg.Error as exc:
            raise database.unavailable(exc, "open the memory store in") from None
        # Statements are not prepared: a reindex may swap the tables (and vector size) away
        # under a plan another process prepared.
        self._pool = database.sync_pool(
            name="memory", min_size=2, configure=self._configure, prepare_threshold=None
        )
        dims = self.dims or self.embedder.dims
        if dims is not None:
            self.build_tiers(dims)
        self._count = self._counted()
        self.check_dims()

    def _configure(self, conn: Any) -> None:
        """Each new pool connection sends and reads vectors in pgvector's binary form."""
        if self._vector_type is None:
            self._vector_type = TypeInfo.fetch(conn, "vector")
        register_vector_info(conn, self._vector_type)

    def build_tiers(self, dims: int) -> None:
        label = self.embedder.model.label if self.embedder.model else "unknown"
        with self.database.setup_lock_sync() as conn:
            # Another process may have built the store first, maybe for another model.
            meta = pg_tiers.write_meta(conn, dims, label, replace=False)
            for tier in TIERS:
                create_tier(conn, table_of(tier), meta.dims)
        self._build_memories(meta.dims)
        self.dims = meta.dims

    def _build_memories(self, dims: int) -> None:
        from . import mem0_setup

        for memory in self._tiers.values():
            memory.close()
        self._tiers = {
            tier: mem0_setup.build_pg_memory(
                table=table_of(tier),
                pool=self._pool,
                dims=dims,
                binding_key=self._binding_key or "",
            )
            for tier in TIERS
        }

    def _built_with(self) -> str:
        with self._pool.connection() as conn:
            meta = pg_tiers.read_meta(conn)
        return meta.embedder if meta is not None else ""

    async def aclose(self) -> None:
        if self._closed:
            return
        await self._feed.aclose()
        try:
            await super().aclose()
        finally:
            await self.gate.aclose()

    def _close_backend(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- the store's thread: a database that went away is a clear error ---------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await super().run(fn, *args)
        except _DB_ERRORS as exc:
            # The pool replaces a dropped connection, so the next call reconnects.
            raise MemoryUnavailable(self.database.unavailable(exc, "reach").reason) from None
        except StoreUnavailable as exc:  # reconnecting (the vocabulary's connection) failed
            raise MemoryUnavailable(exc.reason) from None

    # -- changes, from here and from every other process ----------------------------------------

    def notify(self, events: Sequence[MemoryChanged]) -> None:
        super().notify(events)
        if events:
            try:
                with self._pool.connection() as conn:
                    self._feed.send(conn, events)
            except psycopg.Error as exc:  # the change is made; only the others' panes lag
                log.warning("could not announce a memory change to other processes: %s", exc)

    def _emit(self, events: Sequence[MemoryChanged]) -> None:
        for event in events:
            self._count += {"added": 1, "deleted": -1}.get(event.action, 0)
        super()._emit(events)

    async def _deliver(self, heard: Heard) -> None:
        event = heard.event
        if heard.cut and event.action != "deleted" and not self.closed:
            event = await self.run(self._whole_text, event)
        self._emit([event])

    def _whole_text(self, event: MemoryChanged) -> MemoryChanged:
        payload = self.vectors(event.tier).index.get(event.memory_id) if self._tiers else None
        return replace(event, text=payload["data"]) if payload else event

    async def _recount(self) -> None:
        """After the feed reconnects: changes may have been missed, so count again."""
        if not self.closed:
            self._count = await self.run(self._counted)

    def _counted(self) -> int:
        return super().count() if self._tiers else 0

    def count(self) -> int:
        # Counted at opening and kept up by every change heard: status_now stays cheap.
        return max(self._count, 0)

    # -- writes that differ by backend -----------------------------------------------------------

    def same_text(self, scope: str, digests: Sequence[str]) -> AbstractContextManager[None]:
        return pg_tiers.same_text(self._pool, scope, digests)

    def remembered(self, scope: str, digests: Sequence[str]) -> set[str]:
        return pg_tiers.remembered(self._pool, scope, digests)

    def move(self, point_id: str, source: Tier, target: Tier) -> bool:
        return pg_tiers.move(self._pool, point_id, source, target)

    def stale_candidates(self, scope: str | None, cutoff: datetime) -> list[str]:
        return pg_tiers.stale_candidates(self._pool, scope, cutoff)

    def settle(self, point_id: str, cutoff: datetime, progress: Progress | None) -> Settled:
        return pg_tiers.settle(self._pool, point_id, cutoff, progress)

    def snapshot(self) -> list[dict[str, Any]]:
        # Nothing to keep safe on the side: the rebuild is one transaction.
        return pg_tiers.snapshot(self._pool)

    def rebuild(
        self, dims: int, items: Sequence[dict[str, Any]], vectors: Sequence[Sequence[float]]
    ) -> None:
        label = self.embedder.model.label if self.embedder.model else "unknown"
        pg_tiers.rebuild(self._pool, dims, items, vectors, label)
        self._build_memories(dims)
        self.dims = dims
        self._count = self._counted()

    def export_rows(
        self, tier: Tier, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any], list[float]]]:
        if tier not in self._tiers:
            return []
        return pg_tiers.export_rows(self._pool, tier, after, limit)

    def import_rows(
        self, tier: Tier, rows: Sequence[tuple[str, dict[str, Any], Sequence[float]]]
    ) -> list[str]:
        written = pg_tiers.import_rows(self._pool, tier, rows)
        self._count += len(written)
        return written
