"""Copying memories from one store into another exactly as they are: id, tier, payload (text,
category, dates, user) and vector, for moving the store on disk into PostgreSQL (``termmate
store migrate``).

``read_memories`` pages through every memory of a store (open, or read from its files by
``store_files.MemoryFiles``); ``write_memories`` writes such records into another, keeping
their ids, and skips an id the target already holds, so a copy cut short is finished by
running it again and a second run adds nothing. Nothing is re-embedded (the vectors travel),
and no change is announced: it is a bulk copy. Many pages go inside ``bulk_copy``, which
readies the target once (its tiers, its vector size, and in PostgreSQL its vector indexes,
built after the load instead of row by row).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .errors import VectorSizeMismatch
from .events import Tier
from .records import user_of
from .schemas import DEFAULT_CATEGORY, TIERS
from .store_core import StoreCore

T = TypeVar("T")

PAGE = 500
"""Memories per read (and per write, when a caller writes what it read)."""


@dataclass(frozen=True)
class StoredMemory:
    """One memory as a store holds it."""

    id: str
    tier: Tier
    payload: dict[str, Any]
    """mem0's payload: "data" (the text), "category", "created_at", "updated_at", "hash",
    "user_id" (the user's scope) and what else mem0 keeps."""
    vector: list[float]

    @property
    def text(self) -> str:
        return str(self.payload.get("data", ""))

    @property
    def category(self) -> str:
        return str(self.payload.get("category") or DEFAULT_CATEGORY)

    @property
    def updated_at(self) -> str | None:
        return self.payload.get("updated_at") or self.payload.get("created_at")

    @property
    def user_id(self) -> str:
        return user_of(self.payload)


class MemorySource(Protocol):
    """A store ``read_memories`` can read: an open StoreCore, or store_files.MemoryFiles."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the store's thread."""
        ...

    def export_rows(
        self, tier: Tier, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any], list[float]]]:
        """Up to ``limit`` memories of ``tier`` as (id, payload, vector), in id order, from
        the first id after ``after`` (None: from the start)."""
        ...


async def read_memories(store: MemorySource, page: int = PAGE) -> AsyncIterator[list[StoredMemory]]:
    """Every memory of ``store``, ``page`` at a time, each page of one tier (in id order)."""
    for tier in TIERS:
        after: str | None = None
        while rows := await store.run(store.export_rows, tier, after, page):
            yield [StoredMemory(row[0], tier, row[1], row[2]) for row in rows]
            after = rows[-1][0]


async def count_memories(store: StoreCore) -> int:
    """How many memories the open ``store`` holds (both tiers), counted now."""

    def count() -> int:
        return sum(len(store.vectors(tier).index) for tier in store.tiers)

    return await store.run(count)


async def write_memories(store: StoreCore, memories: Sequence[StoredMemory]) -> int:
    """Write ``memories`` into the open ``store`` with their ids, tiers and vectors; how many
    were new (an id either tier holds already is skipped). A store with no tiers yet gets them
    for the memories' vector size; one of another size is VectorSizeMismatch. Runs as a write
    (through the write gate), so a reindex, here or in another process, waits for it."""
    if not memories:
        return 0
    sizes = {len(memory.vector) for memory in memories}
    if len(sizes) != 1:
        raise VectorSizeMismatch(f"the memories to copy hold vectors of sizes {sorted(sizes)}")
    (dims,) = sizes
    async with store.writes.write():
        if not store.tiers:
            await store.run(store.build_tiers, dims)
        _check_size(store, store.dims, dims)
        await store.run(store.vocabulary.ensure_categories, [m.category for m in memories])
        written = 0
        for tier in TIERS:
            rows = [(m.id, m.payload, m.vector) for m in memories if m.tier == tier]
            if rows:
                written += len(await store.run(store.import_rows, tier, rows))
    return written


@contextlib.asynccontextmanager
async def bulk_copy(store: StoreCore, dims: int, built_with: str) -> AsyncIterator[None]:
    """Around many ``write_memories`` of ``dims``-dimensional memories, embedded by the model
    ``built_with``, into the open ``store``.

    Before the block: a store with no tiers yet gets them, recorded (in PostgreSQL) as built
    by that model; a store of another vector size is VectorSizeMismatch before anything is
    written. In PostgreSQL, a tier that is empty gets its vector index after the block, once,
    instead of row by row (pg_bulk.py); a block that fails or is cancelled leaves building it
    to the next copy, or to the next process that opens the store.
    """
    shared = _postgres(store)
    if shared is None:
        async with store.writes.write():
            if not store.tiers:
                await store.run(store.build_tiers, dims)
            _check_size(store, store.dims, dims)
        yield
        return
    from . import pg_bulk

    async with store.writes.write():
        # Recorded first: build_tiers would record "unknown" (this store has no model).
        recorded = await store.run(pg_bulk.record_model, shared.database, dims, built_with)
        _check_size(store, recorded, dims)
        if not store.tiers:
            await store.run(store.build_tiers, dims)
        deferred = await store.run(pg_bulk.unindex_for_load, shared.pool, TIERS)
    yield
    if deferred:
        async with store.writes.write():
            await store.run(pg_bulk.build_indexes, shared.pool, deferred)


def _check_size(store: StoreCore, held: int | None, dims: int) -> None:
    """VectorSizeMismatch unless ``store`` (holding ``held``-dimensional vectors) takes
    ``dims``-dimensional ones."""
    if held != dims:
        raise VectorSizeMismatch(
            f"the memory store in {store.location} holds {held}-dimensional vectors; "
            f"the memories to copy hold {dims}-dimensional ones"
        )


def _postgres(store: StoreCore) -> Any:
    """``store`` when it is in PostgreSQL (pg_store.PgMemoryStore), else None."""
    if store.role != "shared":
        return None  # the store on disk: psycopg stays unloaded
    from .pg_store import PgMemoryStore

    return store if isinstance(store, PgMemoryStore) else None


def check_fits(store: StoreCore, dims: int) -> None:
    """VectorSizeMismatch when the open ``store`` already holds vectors of another size than
    ``dims`` (said before a copy begins)."""
    if store.dims is not None:
        _check_size(store, store.dims, dims)
