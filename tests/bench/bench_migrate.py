"""`termmate store migrate`: copying a data dir's memories into PostgreSQL, beside a same-run
baseline that inserts them one row at a time (as the copy did before it loaded pages with COPY
and built each empty tier's HNSW index after the load).

    python -m tests.bench.bench_migrate [--size 10000] [--dims 384] [--baseline-rows 10000]

The data dir holds ``size`` memories of two users (three in four fresh, one in four old) with
random vectors, written straight into the store on disk. The migration is agent.migrate.migrate
in this process, into a new database on pgserver's PostgreSQL 16 with pgvector 0.6.2 (a Unix
socket, this machine): reading the files, copying, building the indexes; the process start a
`termmate store migrate` adds (about 2 s: Python, mem0) is not in it. The baseline inserts the
same memories, one statement per row through executemany, into a tier whose HNSW index exists.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

import agent.memory  # noqa: F401  (telemetry off before mem0 loads)
from tests.bench._stats import report
from tests.bench.bench_memory import scratch_dir, synthetic_payload

USERS = ("bench", "bench-2")


async def _fill_disk(data: Path, size: int, dims: int) -> list:
    """A store on disk in ``data`` holding ``size`` memories; them, as StoredMemory."""
    from agent.memory.store_core import open_store
    from agent.memory.transfer import StoredMemory, bulk_copy, write_memories
    from config import Settings

    rng = np.random.default_rng(3)
    memories = [
        StoredMemory(
            str(uuid.uuid4()),
            "old" if i % 4 == 0 else "fresh",
            synthetic_payload(i, USERS[i % 2]),
            rng.standard_normal(dims).astype(np.float32).tolist(),
        )
        for i in range(size)
    ]
    store = open_store(Settings(data_dir=data), None)
    await store.open()
    try:
        async with bulk_copy(store, dims, "bench-random"):
            for tier in ("fresh", "old"):
                mine = [m for m in memories if m.tier == tier]
                for first in range(0, len(mine), 1000):
                    await write_memories(store, mine[first : first + 1000])
    finally:
        await store.aclose()
    return memories


def _row_at_a_time(url: str, memories: list, dims: int) -> float:
    """The baseline: one INSERT per memory into tiers with their HNSW index; seconds."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg import sql
    from psycopg.types.json import Jsonb

    from agent.memory.pg_vectors import create_tier, table_of

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        for tier in ("fresh", "old"):
            create_tier(conn, table_of(tier), dims)
        started = time.perf_counter()
        for tier, other in (("fresh", "old"), ("old", "fresh")):
            query = sql.SQL(
                "INSERT INTO {} (id, vector, payload) SELECT %s, %s, %s "
                "WHERE NOT EXISTS (SELECT 1 FROM {} WHERE id = %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            ).format(sql.Identifier(table_of(tier)), sql.Identifier(table_of(other)))
            rows = [
                (key, np.asarray(m.vector, np.float32), Jsonb(m.payload), key)
                for m in memories
                if m.tier == tier
                for key in [uuid.UUID(m.id)]
            ]
            with conn.cursor() as cursor:
                for first in range(0, len(rows), 500):
                    cursor.executemany(query, rows[first : first + 500], returning=True)
        return time.perf_counter() - started


async def _migrate(data: Path, url: str) -> tuple[float, object]:
    from agent.migrate import migrate
    from config import Settings

    settings = Settings(data_dir=data, store={"url": url})
    started = time.perf_counter()
    result = await migrate(settings)
    return time.perf_counter() - started, result


async def bench(size: int, dims: int, baseline_rows: int) -> None:
    from tests.support.postgres import postgres_server

    root = scratch_dir()
    lines = [f"{size:,} memories of {dims}-d, {size * 3 // 4:,} fresh and {size // 4:,} old"]
    try:
        memories = await _fill_disk(root / "data", size, dims)
        with postgres_server() as server:
            target = server.new_database("migrated")
            seconds, result = await _migrate(root / "data", target)
            copied = sum(tally.copied for tally in result.memories.values())
            assert copied == size, f"copied {copied} of {size}"
            again, _ = await _migrate(root / "data", target)
            sample = memories[:baseline_rows]
            baseline = await asyncio.to_thread(
                _row_at_a_time, server.new_database("baseline"), sample, dims
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_row = baseline / len(sample) * 1000
    lines += [
        f"store migrate (COPY per page, HNSW built after): {seconds:6.1f} s "
        f"({seconds / size * 1000:.2f} ms a memory); a second run: {again:.1f} s",
        f"baseline, a row at a time into indexed tiers:   {baseline:6.1f} s for "
        f"{len(sample):,} ({per_row:.2f} ms a memory"
        + (f"; {per_row * size / 1000:,.0f} s for {size:,})" if len(sample) < size else ")"),
    ]
    report("moving memories into PostgreSQL (termmate store migrate)", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(bench(args.size, args.dims, min(args.baseline_rows, args.size)))


if __name__ == "__main__":
    main()
