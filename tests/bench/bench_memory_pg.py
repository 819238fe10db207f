"""Memory search on PostgreSQL with pgvector (HNSW) beside the store on disk, in the same run.

    python -m tests.bench.bench_memory_pg [--sizes 10000,100000] [--queries 60]

Both stores hold the same memories: 95% belong to one user, 5% to five others (1% each). Their
384-d vectors are grouped around 500 topics, as embeddings of real memories are, and a query
is a memory's vector with noise added: on uniformly random vectors every neighbour is about
as far as any other, which no approximate index (HNSW included) is built for. Search is timed
as engine.search reports it, embedding excluded (queries come pre-embedded), for the big user
(the goal) and for one of the small ones: there pgvector's HNSW scan keeps too few of that
user's rows (it filters after the index) and the exact scan of the user's rows answers.
Recall@k is measured against an exact numpy search. PostgreSQL is pgserver's 16 with pgvector
0.6.2, on a Unix socket on this machine; the memories are loaded with COPY and the HNSW index
built after (as a migration would).
Goal: search p50 ≤ 30 ms at 100k memories, embedding excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

import agent.memory  # noqa: F401  (telemetry off before mem0 loads)
from tests.bench._stats import percentile, report, verdict
from tests.bench.bench_memory import (
    DIMS,
    GOAL_P50_MS,
    PreparedEmbedder,
    scratch_dir,
    synthetic_payload,
    timings_line,
)

BIG = "bench"
SMALL = [f"bench-{n}" for n in range(5)]
TOPICS = 500
MEMORY_NOISE = 0.6
"""Per-dimension spread of a memory around its topic (topics have 1): cosine ≈ 0.86."""
QUERY_NOISE = 0.4
"""Per-dimension spread of a query around the memory it asks about."""


def user_of(i: int) -> str:
    """95 of every 100 memories are BIG's, one each of the SMALL users'."""
    return SMALL[i % 100 - 95] if i % 100 >= 95 else BIG


@dataclass
class Memories:
    """What both stores hold, kept here too for the exact answers."""

    rng: np.random.Generator
    ids: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    topics: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.topics = self.rng.standard_normal((TOPICS, DIMS)).astype(np.float32)

    def make(self, start: int, stop: int) -> list[tuple]:
        """Rows (id, payload, vector) for memories ``start`` to ``stop``."""
        rows = []
        for i in range(start, stop):
            noise = MEMORY_NOISE * self.rng.standard_normal(DIMS).astype(np.float32)
            point_id, vector = str(uuid.uuid4()), self.topics[i % TOPICS] + noise
            rows.append((point_id, synthetic_payload(i, user_of(i)), vector))
            self.ids.append(point_id)
            self.users.append(user_of(i))
            self.vectors.append(vector / np.linalg.norm(vector))
        return rows

    def query(self, user: str) -> list[float]:
        """A query about one of ``user``'s memories: its vector, with noise."""
        mine = [i for i, owner in enumerate(self.users) if owner == user]
        asked = self.vectors[mine[int(self.rng.integers(len(mine)))]]
        noise = QUERY_NOISE * self.rng.standard_normal(DIMS).astype(np.float32) / np.sqrt(DIMS)
        return (asked + noise).tolist()

    def exact(self, user: str, query: list[float], k: int) -> set[str]:
        mine = [i for i, owner in enumerate(self.users) if owner == user]
        scores = np.stack([self.vectors[i] for i in mine]) @ np.asarray(query, dtype=np.float32)
        return {self.ids[mine[j]] for j in np.argsort(-scores)[:k]}


async def _fill_disk(engine, rows: list[tuple]) -> float:
    store = engine.store.vectors("fresh")
    started = time.perf_counter()
    for first in range(0, len(rows), 1000):
        batch = rows[first : first + 1000]
        await engine.store.run(
            store.insert,
            [r[2].tolist() for r in batch],
            [r[1] for r in batch],
            [r[0] for r in batch],
        )
    return time.perf_counter() - started


def _fill_pg(pool, rows: list[tuple]) -> tuple[float, float]:
    """COPY the rows in with the HNSW index dropped, then build it; (copy s, index s)."""
    from psycopg import sql

    from agent.memory.pg_tiers import copy_rows
    from agent.memory.pg_vectors import create_indexes, table_of

    table = table_of("fresh")
    with pool.connection() as conn:
        started = time.perf_counter()
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{table}_hnsw")))
        with conn.transaction():
            copy_rows(conn, table, rows)
        copied = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        create_indexes(conn, table, table)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        return copied - started, time.perf_counter() - copied


async def _searches(engine, embedder, memories: Memories, user: str, texts: list[str], k: int):
    timings, recall = [], []
    await engine.search(query=texts[0], user_id=user, min_score=0)  # warm
    for text in texts:
        result = await engine.search(query=text, user_id=user, min_score=0, k=k)
        assert len(result.hits) == k, f"{len(result.hits)} hits for {user}, not {k}"
        timings.append(result.search_ms)
        expected = memories.exact(user, embedder.vectors[text], k)
        recall.append(len(expected & {hit.id for hit in result.hits}) / k)
    return timings, float(np.mean(recall))


async def bench(sizes: list[int], query_count: int) -> None:
    from agent.memory.engine import MemoryEngine
    from tests.memory.conftest import memory_settings
    from tests.support.postgres import postgres_server

    root = scratch_dir()
    embedder = PreparedEmbedder(DIMS)
    memories = Memories(np.random.default_rng(5))
    lines = [f"{DIMS}-d vectors; 95% of them one user's, 1% each of five others'; in {root}"]
    with postgres_server() as server:
        url = server.new_database("bench")
        disk = MemoryEngine(memory_settings(root / "disk", user_id=BIG), embedder)
        shared = MemoryEngine(
            memory_settings(root / "pg", user_id=BIG, store={"url": url}), embedder
        )
        await disk.open()
        await shared.open()
        k = disk.settings.memory.search_k
        try:
            held = 0
            for size in sizes:
                rows = memories.make(held, size)
                disk_s = await _fill_disk(disk, rows)
                copy_s, index_s = await asyncio.to_thread(_fill_pg, shared.store.pool, rows)
                held = size
                lines.append(
                    f"{size:>7,} memories (on disk: loaded in {disk_s:5.1f} s; PostgreSQL: "
                    f"COPY {copy_s:4.1f} s, HNSW index {index_s:5.1f} s)"
                )
                for user, label in (
                    (BIG, f"{size * 95 // 100:,} of"),
                    (SMALL[0], f"{size // 100:,} of"),
                ):
                    texts = [f"bench query {size} {user} {i}" for i in range(query_count)]
                    for text in texts:
                        embedder.vectors[text] = memories.query(user)
                    pg, pg_recall = await _searches(shared, embedder, memories, user, texts, k)
                    ours, ours_recall = await _searches(disk, embedder, memories, user, texts, k)
                    goal = user == BIG and size >= 100_000
                    ok = percentile(pg, 50) <= GOAL_P50_MS
                    mark = f"   {verdict(ok)} (p50 ≤ {GOAL_P50_MS:.0f} ms)" if goal else ""
                    lines += [
                        f"   a user with {label} them:",
                        f"     pgvector (HNSW, exact fall-back): {timings_line(pg)}"
                        f"   recall@{k} {pg_recall:.2f}{mark}",
                        f"     baseline store on disk (index):   {timings_line(ours)}"
                        f"   recall@{k} {ours_recall:.2f}",
                    ]
        finally:
            await disk.aclose()
            await shared.aclose()
            shutil.rmtree(root, ignore_errors=True)
    report("memory search latency, PostgreSQL vs the store on disk (embedding excluded)", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(bench(sorted(int(s) for s in args.sizes.split(",")), args.queries))


if __name__ == "__main__":
    main()
