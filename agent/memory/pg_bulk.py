"""Loading many memories into the tiers in PostgreSQL at once (``termmate store migrate``).

An HNSW index takes each row as it comes at about 5 ms a row (100k memories: 8 minutes);
built once over rows already loaded, it takes a fraction of that. So a tier that is empty
when a bulk copy starts loses its vector index for the copy and gets it back at the end. A
copy cut short leaves that tier without it: searches still answer (by exact distance, more
slowly), the next copy treats the tier as one to load the same way, and every process that
opens the store creates a missing index anyway (``pg_vectors.create_tier``).

These run on the store's thread, with the store's connection pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from agent.postgres import Database

from . import pg_tiers
from .events import Tier
from .pg_vectors import create_indexes, table_of

_BUILD_WORK_MEM = "256MB"
"""Room for building an index over every memory of a tier (that transaction only)."""


def vector_index(tier: Tier) -> str:
    """The name of ``tier``'s HNSW index (as ``pg_vectors.create_indexes`` names it)."""
    return f"{table_of(tier)}_hnsw"


def record_model(database: Database, dims: int, embedder: str) -> int:
    """Record that the store holds ``dims``-dimensional vectors made by ``embedder``, unless a
    record is there already (another model, maybe another size, built it first); the vector
    size recorded."""
    with database.setup_lock_sync() as conn:
        pg_tiers.create_meta(conn)
        return pg_tiers.write_meta(conn, dims, embedder, replace=False).dims


def unindex_for_load(pool: Any, tiers: Sequence[Tier]) -> list[Tier]:
    """Drop the vector index of each of ``tiers`` that holds no memory yet; the tiers to index
    after the load: those, and those that had no vector index to begin with."""
    deferred: list[Tier] = []
    with pool.connection() as conn:
        for tier in tiers:
            index = vector_index(tier)
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (index,)).fetchone()[0]
            empty = conn.execute(
                sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(
                    sql.Identifier(table_of(tier))
                )
            ).fetchone()[0]
            if exists and empty:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index)))
            if empty or not exists:
                deferred.append(tier)
    return deferred


def build_indexes(pool: Any, tiers: Sequence[Tier]) -> None:
    """Build the indexes ``tiers`` lack (after a load), one transaction each."""
    for tier in tiers:
        with pool.connection() as conn, conn.transaction():
            conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (_BUILD_WORK_MEM,))
            create_indexes(conn, table_of(tier), table_of(tier))
