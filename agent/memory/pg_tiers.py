"""The tiers in PostgreSQL: moving a memory between them, the record of the model that built
them, keeping one text from being added twice, rebuilding both, and copying memories in and out.

These run on the store's thread, with the store's connection pool. Every process writes to the
same tables at once, so each step that reads and then writes is one transaction, or runs under
an advisory lock:

- a move (cleanup: fresh to old; an update of an old memory: back to fresh) copies and deletes
  in one transaction, and cleanup's only if the memory is still as it was when found stale;
- a text is looked for and added under a lock on (user, text hash);
- a rebuild (reindex) fills new tables and swaps them in, in one transaction: killed at any
  point, the store is as it was, and readers wait only for the swap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from agent.postgres import advisory_key

from .events import Tier
from .operations import Progress
from .pg_vectors import (
    PgIndex,
    as_vector,
    canonical_id,
    create_indexes,
    table_of,
    vector_values,
)
from .schemas import TIERS
from .store_core import Settled
from .tiers import is_stale
from .timestamps import format_utc, now_utc

META_TABLE = "termmate_memory_meta"
# A rebuild may build HNSW indexes of every memory at once: give it room (this transaction only).
_REBUILD_WORK_MEM = "256MB"
_STAGED = "termmate_incoming"
"""The session's own staging table for rows being imported (dropped when they are in)."""


# -- the record of the model that built the store ---------------------------------------------


@dataclass(frozen=True)
class Meta:
    """What store.json holds for the store on disk: the vector size and the model's label."""

    dims: int
    embedder: str


def create_meta(conn: Any) -> None:
    """The one-row table of the model record (callers hold the set-up lock)."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id int PRIMARY KEY CHECK (id = 1), "
            "version int NOT NULL, dims int NOT NULL, embedder text NOT NULL, "
            "built_at text NOT NULL)"
        ).format(sql.Identifier(META_TABLE))
    )


def read_meta(conn: Any) -> Meta | None:
    row = conn.execute(
        sql.SQL("SELECT dims, embedder FROM {} WHERE id = 1").format(sql.Identifier(META_TABLE))
    ).fetchone()
    return None if row is None else Meta(int(row[0]), str(row[1]))


def write_meta(conn: Any, dims: int, embedder: str, *, replace: bool) -> Meta:
    """Record ``dims`` and ``embedder``; unless ``replace``, a record already there (another
    process built the store first) stays, and is what this returns."""
    on_conflict = (
        "DO UPDATE SET version = EXCLUDED.version, dims = EXCLUDED.dims, "
        "embedder = EXCLUDED.embedder, built_at = EXCLUDED.built_at"
        if replace
        else "DO NOTHING"
    )
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, version, dims, embedder, built_at) VALUES (1, 1, %s, %s, %s) "
            "ON CONFLICT (id) " + on_conflict
        ).format(sql.Identifier(META_TABLE)),
        (dims, embedder, format_utc(now_utc())),
    )
    meta = read_meta(conn)
    assert meta is not None
    return meta


# -- one text, added once ---------------------------------------------------------------------


@contextlib.contextmanager
def same_text(pool: Any, scope: str, digests: Sequence[str]) -> Iterator[None]:
    """Hold an advisory lock on each (``scope``, text hash) while the block runs."""
    # In one order for every process: two writers locking overlapping texts cannot deadlock.
    keys = sorted({advisory_key(f"memory-text:{scope}:{digest}") for digest in digests})
    with pool.connection() as conn:
        locked: list[int] = []
        try:
            for key in keys:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                locked.append(key)
            yield
        finally:
            for key in locked:
                with contextlib.suppress(Exception):  # a dropped connection released them
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def remembered(pool: Any, scope: str, digests: Sequence[str]) -> set[str]:
    """Which of the text hashes ``digests`` the memories of ``scope`` hold, in either tier."""
    found: set[str] = set()
    for tier in TIERS:
        found |= PgIndex(pool, table_of(tier)).hashes(scope, digests)
    return found


# -- moving between tiers ---------------------------------------------------------------------


def move(
    pool: Any,
    point_id: str,
    source: Tier,
    target: Tier,
    *,
    expected: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> bool:
    """Move a memory from ``source`` to ``target`` in one transaction: only when it is there,
    and, given ``expected``, only while its payload is still that. False when not moved."""
    key = canonical_id(point_id)
    if key is None:
        return False
    tables = {
        "source": sql.Identifier(table_of(source)),
        "target": sql.Identifier(table_of(target)),
    }
    unchanged = sql.SQL(" AND payload = %s") if expected is not None else sql.SQL("")
    lock = sql.SQL("SELECT 1 FROM {source} WHERE id = %s{unchanged} FOR UPDATE")
    copy = sql.SQL(
        "INSERT INTO {target} (id, vector, payload) "
        "SELECT id, vector, payload FROM {source} WHERE id = %s "
        "ON CONFLICT (id) DO UPDATE SET vector = EXCLUDED.vector, payload = EXCLUDED.payload"
    )
    delete = sql.SQL("DELETE FROM {source} WHERE id = %s")
    with pool.connection() as conn, conn.transaction():
        params = (key,) if expected is None else (key, Jsonb(expected))
        if conn.execute(lock.format(unchanged=unchanged, **tables), params).fetchone() is None:
            return False
        conn.execute(copy.format(**tables), (key,))
        if progress is not None:
            progress("copied", point_id)  # an error here undoes the copy: nothing moved
        conn.execute(delete.format(**tables), (key,))
    if progress is not None:
        progress("moved", point_id)
    return True


def stale_candidates(pool: Any, scope: str | None, cutoff: datetime) -> list[str]:
    """Fresh memories cleanup looks at: the stale ones, and any that is in both tiers."""
    fresh = PgIndex(pool, table_of("fresh"))
    stale = [point_id for point_id, stamps in fresh.stamps(scope) if is_stale(stamps, cutoff)]
    both = sql.SQL("SELECT f.id FROM {} f JOIN {} o USING (id) WHERE {}").format(
        sql.Identifier(table_of("fresh")),
        sql.Identifier(table_of("old")),
        sql.SQL("true") if scope is None else sql.SQL("f.payload->>'user_id' = %s"),
    )
    with pool.connection() as conn:
        twice = [str(row[0]) for row in conn.execute(both, [] if scope is None else [scope])]
    return stale + sorted(set(twice) - set(stale))


def settle(pool: Any, point_id: str, cutoff: datetime, progress: Progress | None) -> Settled:
    """Cleanup's step for one fresh memory (see StoreCore.settle)."""
    fresh, old = PgIndex(pool, table_of("fresh")), PgIndex(pool, table_of("old"))
    payload = fresh.get(point_id)
    if payload is None:
        return "gone"  # forgotten or moved since the list was made
    if is_stale(payload, cutoff):
        if move(pool, point_id, "fresh", "old", expected=payload, progress=progress):
            return "moved"
        # Changed (updated: no longer stale) or forgotten since it was read: left as it is.
        return "kept" if point_id in fresh else "gone"
    if point_id in old:
        # A copy left in old (by the store on disk this one was migrated from): fresh wins.
        with pool.connection() as conn:
            delete = sql.SQL("DELETE FROM {} WHERE id = %s")
            conn.execute(delete.format(sql.Identifier(table_of("old"))), (canonical_id(point_id),))
        return "repaired"
    return "kept"


# -- reindex: snapshot and rebuild ------------------------------------------------------------


def snapshot(pool: Any) -> list[dict[str, Any]]:
    """Every memory as {"tier", "id", "payload"} (fresh first: it wins over a copy in old)."""
    items: dict[str, dict[str, Any]] = {}
    for tier in TIERS:
        for point_id, payload in PgIndex(pool, table_of(tier)).items(all_scopes=True):
            items.setdefault(point_id, {"tier": tier, "id": point_id, "payload": payload})
    return list(items.values())


def copy_rows(conn: Any, table: str, rows: Sequence[tuple[str, dict[str, Any], Any]]) -> None:
    """Write (id, payload, vector) rows into ``table`` with COPY (binary)."""
    command = sql.SQL("COPY {} (id, vector, payload) FROM STDIN WITH (FORMAT BINARY)")
    with conn.cursor() as cursor, cursor.copy(command.format(sql.Identifier(table))) as copy:
        copy.set_types(["uuid", "vector", "jsonb"])
        for point_id, payload, vector in rows:
            copy.write_row((canonical_id(point_id), as_vector(vector), Jsonb(payload)))


def rebuild(
    pool: Any,
    dims: int,
    items: Sequence[dict[str, Any]],
    vectors: Sequence[Sequence[float]],
    embedder: str,
) -> None:
    """Both tiers anew for ``dims`` with ``items`` and their new ``vectors``, swapped in for
    the old ones in one transaction (see the module's docstring)."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (_REBUILD_WORK_MEM,))
        for tier in TIERS:
            staged = f"{table_of(tier)}_rebuild"
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (id uuid PRIMARY KEY, vector vector({}) NOT NULL, "
                    "payload jsonb NOT NULL)"
                ).format(sql.Identifier(staged), sql.Literal(dims))
            )
            rows = [
                (item["id"], item["payload"], vector)
                for item, vector in zip(items, vectors, strict=True)
                if item["tier"] == tier
            ]
            copy_rows(conn, staged, rows)
            create_indexes(conn, staged, staged)
        for tier in TIERS:  # the swap: from here to the commit, readers wait
            _swap_in(conn, table_of(tier))
        write_meta(conn, dims, embedder, replace=True)


def _swap_in(conn: Any, table: str) -> None:
    staged = f"{table}_rebuild"
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(staged), sql.Identifier(table))
    )
    for suffix in ("pkey", "hnsw", "scope"):
        conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(f"{staged}_{suffix}"), sql.Identifier(f"{table}_{suffix}")
            )
        )


# -- copying memories out and in (``termmate store migrate``) ---------------------------------


def export_rows(
    pool: Any, tier: Tier, after: str | None, limit: int
) -> list[tuple[str, dict[str, Any], list[float]]]:
    """Up to ``limit`` memories of ``tier`` as (id, payload, vector), in id order, after the id
    ``after`` (None: from the first)."""
    query = sql.SQL("SELECT id, payload, vector FROM {} WHERE {} ORDER BY id LIMIT %s").format(
        sql.Identifier(table_of(tier)), sql.SQL("true") if after is None else sql.SQL("id > %s")
    )
    params = [limit] if after is None else [canonical_id(after) or after, limit]
    with pool.connection() as conn:
        rows = conn.execute(query, params, binary=True).fetchall()
    return [
        (str(point_id), dict(payload), vector_values(vector)) for point_id, payload, vector in rows
    ]


def import_rows(
    pool: Any, tier: Tier, rows: Sequence[tuple[str, dict[str, Any], Sequence[float]]]
) -> list[str]:
    """Write rows into ``tier`` keeping their ids; an id either tier holds is skipped.

    One transaction: the rows go to a staging table with COPY, then into the tier in one
    statement (a row at a time costs a round trip and a statement each)."""
    for point_id, _, _ in rows:
        if canonical_id(point_id) is None:
            raise ValueError(f"{point_id!r} is not a memory id")
    if not rows:
        return []
    other: Tier = "old" if tier == "fresh" else "fresh"
    insert = sql.SQL(
        "INSERT INTO {tier} (id, vector, payload) SELECT i.id, i.vector, i.payload FROM {staged} i "
        "WHERE NOT EXISTS (SELECT 1 FROM {other} o WHERE o.id = i.id) "
        "ON CONFLICT (id) DO NOTHING RETURNING id"
    ).format(
        tier=sql.Identifier(table_of(tier)),
        other=sql.Identifier(table_of(other)),
        staged=sql.Identifier(_STAGED),
    )
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE {} (id uuid, vector vector, payload jsonb) ON COMMIT DROP"
            ).format(sql.Identifier(_STAGED))
        )
        copy_rows(conn, _STAGED, rows)
        return [str(row[0]) for row in conn.execute(insert).fetchall()]
