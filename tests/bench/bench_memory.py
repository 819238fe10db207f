"""Memory: search latency at 1k, 10k and 100k memories, and the time update_memory takes.

    python -m tests.bench.bench_memory [--sizes 1000,10000,100000] [--queries 60]

Search is timed without embedding (queries come pre-embedded) and beside two same-run
baselines: a raw numpy brute-force search over the same vectors (the floor), and Qdrant local's
own filtered search (what mem0's stock Qdrant store would do). Embedding a query is timed apart,
with the tiny GGUF through llama.cpp (a real model's cost depends on the model and the machine).
update_memory is timed after a reply, with the tiny random-weights GGUF as the chat model and
with a scripted server giving a fixed two-fact answer (so the store's share shows on its own).
Goal: search p50 ≤ 30 ms at 100k memories, embedding excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import agent.memory  # noqa: F401  (telemetry off before mem0 loads)
from tests.bench._stats import percentile, report, verdict

USER = "bench"
DIMS = 384  # multilingual-e5-small, the default local embedding model
GOAL_P50_MS = 30.0


class PreparedEmbedder:
    """Hands out vectors computed beforehand, so search timings exclude embedding."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.vectors: dict[str, list[float]] = {}
        self._rng = np.random.default_rng(11)

    @property
    def label(self) -> str:
        return f"prepared vectors ({self.dims}-d)"

    def query(self, text: str) -> list[float]:
        self.vectors[text] = self._rng.standard_normal(self.dims).astype(np.float32).tolist()
        return self.vectors[text]

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        return [self.vectors.get(t) or self.query(t) for t in texts]

    async def aclose(self) -> None:
        return None


def scratch_dir() -> Path:
    """A fresh folder for a benchmark's files (in memory, /dev/shm, where there is one)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return Path(tempfile.mkdtemp(prefix="termmate-bench-memory-", dir=base))


def synthetic_payload(i: int, user: str = USER) -> dict:
    """The payload mem0 would keep for synthetic memory ``i`` of ``user``."""
    text = f"synthetic memory number {i} about topic {i % 97}"
    stamp = "2025-01-01T00:00:00.000000+00:00"
    return {
        "data": text,
        "hash": hashlib.md5(text.encode()).hexdigest(),
        "user_id": user,
        "role": "user",
        "category": f"topic {i % 13}",
        "created_at": stamp,
        "updated_at": stamp,
        "text_lemmatized": text,
    }


async def _fill(engine, start: int, stop: int, rng: np.random.Generator) -> float:
    store = engine.store.vectors("fresh")
    started = time.perf_counter()
    for first in range(start, stop, 1000):
        last = min(first + 1000, stop)
        vectors = rng.standard_normal((last - first, DIMS)).astype(np.float32)
        ids = [str(uuid.uuid4()) for _ in range(first, last)]
        payloads = [synthetic_payload(i) for i in range(first, last)]
        await engine.store.run(store.insert, vectors.tolist(), payloads, ids)
    return time.perf_counter() - started


def _numpy_baseline(engine, queries: list[list[float]], k: int) -> list[float]:
    index = engine.store.vectors("fresh").index
    matrix = np.stack([index.vector(pid) for pid, _ in index.items(USER)])
    timings = []
    for query in queries:
        started = time.perf_counter()
        q = np.asarray(query, dtype=np.float32)
        q /= np.linalg.norm(q)
        scores = matrix @ q
        top = np.argpartition(-scores, k)[:k]
        top[np.argsort(-scores[top])]
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _qdrant_baseline(engine, queries: list[list[float]], k: int, runs: int) -> list[float]:
    from qdrant_client import models

    store = engine.store.vectors("fresh")
    condition = models.FieldCondition(key="user_id", match=models.MatchValue(value=USER))
    timings = []
    for query in queries[:runs]:
        started = time.perf_counter()
        await engine.store.run(
            lambda q=query: store.client.query_points(
                store.collection_name,
                query=q,
                query_filter=models.Filter(must=[condition]),
                limit=max(k * 4, 60),
            )
        )
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def timings_line(values: Sequence[float]) -> str:
    """p50 and p95 of ``values`` (milliseconds), in one aligned line."""
    return f"p50 {percentile(values, 50):7.2f} ms   p95 {percentile(values, 95):7.2f} ms"


async def bench_search(sizes: list[int], query_count: int, qdrant_runs: int) -> None:
    from agent.memory.engine import MemoryEngine
    from tests.memory.conftest import memory_settings

    root = scratch_dir()
    settings = memory_settings(root / "data", user_id=USER)
    embedder = PreparedEmbedder(DIMS)
    engine = MemoryEngine(settings, embedder)
    await engine.open()
    rng = np.random.default_rng(5)
    lines = [f"{DIMS}-d vectors, one user, store in {root}"]
    held = 0
    try:
        for size in sizes:
            fill_s = await _fill(engine, held, size, rng)
            held = size
            texts = [f"bench query {size} {i}" for i in range(query_count)]
            vectors = [embedder.query(t) for t in texts]
            await engine.search(query=texts[0], user_id=USER, min_score=0)  # warm
            ours, totals = [], []
            for text in texts:
                started = time.perf_counter()
                result = await engine.search(query=text, user_id=USER, min_score=0)
                totals.append((time.perf_counter() - started) * 1000)
                ours.append(result.search_ms)
                assert len(result.hits) == settings.memory.search_k
            floor = _numpy_baseline(engine, vectors, settings.memory.search_k)
            qdrant = await _qdrant_baseline(
                engine, vectors, settings.memory.search_k, qdrant_runs if size > 10_000 else 10
            )
            ok = size < 100_000 or percentile(ours, 50) <= GOAL_P50_MS
            lines += [
                f"{size:>7,} memories (loaded in {fill_s:5.1f} s)",
                f"   termmate search (mem0 + index): {timings_line(ours)}"
                + (f"   {verdict(ok)} (p50 ≤ {GOAL_P50_MS:.0f} ms)" if size >= 100_000 else ""),
                f"   same, call to answer:           {timings_line(totals)}",
                f"   baseline raw numpy brute force: {timings_line(floor)}",
                f"   baseline Qdrant local filtered: {timings_line(qdrant)}  ({len(qdrant)} runs)",
            ]
        await engine.aclose()
        started = time.perf_counter()
        engine = MemoryEngine(settings, embedder)
        await engine.open()
        lines.append(
            f"opening the store of {held:,} memories: {time.perf_counter() - started:.1f} s"
        )
    finally:
        await engine.aclose()
        shutil.rmtree(root, ignore_errors=True)
    report("memory search latency (embedding excluded)", lines)


async def bench_embedding(runs: int) -> None:
    from agent.llm.embeddings import Embeddings
    from tests.memory.conftest import memory_settings
    from tests.support.tiny_gguf import TinyModelSpec, write_tiny_gguf

    root = scratch_dir()
    try:
        model = write_tiny_gguf(root / "tiny-embed.gguf", TinyModelSpec(pooling=1, seed=99))
        router = Embeddings.from_settings(memory_settings(root, local={"embed_model": str(model)}))
        await router.embed(["warm up"], "query")
        timings = []
        for i in range(runs):
            started = time.perf_counter()
            await router.embed([f"what does the user like to drink, take {i}?"], "query")
            timings.append((time.perf_counter() - started) * 1000)
        await router.aclose()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(
        "query embedding (apart from search)",
        [
            f"tiny GGUF through llama.cpp, 64-d: {timings_line(timings)}",
            "a real model (e.g. multilingual-e5-small) costs more; not measurable offline here",
        ],
    )


async def _collect(stream: Any, into: list) -> None:
    async for change in stream:
        into.append(change)


async def bench_update_memory(runs: int) -> None:
    from agent.clock import utc_now_iso
    from agent.llm.chat import chat_models
    from agent.memory.service import MemoryService
    from agent.nodes.update_memory import update_memory
    from tests.memory.conftest import memory_settings
    from tests.support.nodes import NodeContext, run_node
    from tests.support.scripted_openai import Reply, ScriptedOpenAI
    from tests.support.tiny_gguf import write_tiny_gguf
    from tests.support.word_embedder import WordOverlapEmbedder

    root = scratch_dir()
    lines = []
    try:
        chat_model = write_tiny_gguf(root / "tiny-chat.gguf")

        async def timed(settings, label: str, before_each=None) -> None:
            memory = MemoryService(settings, embedder=WordOverlapEmbedder(DIMS))
            await memory.start()
            for i in range(1000):
                await memory.add(f"background memory {i} about topic {i % 31}", user_id="minsu")
            router = chat_models(settings)
            timings, changes = [], []
            # Changes reach front ends through memory.changes(), not through the node's events.
            listening = asyncio.ensure_future(_collect(memory.changes(), changes))
            await asyncio.sleep(0)
            try:
                for i in range(runs):
                    if before_each:
                        before_each(i)
                    state = {
                        "messages": [
                            {
                                "role": "user",
                                "content": f"I'm Minsu, I like coffee no. {i}",
                                "created_at": utc_now_iso(),
                            },
                            {"role": "assistant", "content": "Nice!", "created_at": utc_now_iso()},
                        ],
                        "user_id": "minsu",
                        "trigger": "user",
                        "memories": [],
                    }
                    started = time.perf_counter()
                    _, events = await run_node(
                        update_memory, state, NodeContext(settings, router, memory)
                    )
                    timings.append((time.perf_counter() - started) * 1000)
                    assert not events, "update_memory streams nothing: changes go to changes()"
                await asyncio.sleep(0.05)  # the last changes reach the listener
            finally:
                listening.cancel()
                await router.aclose()
                await memory.aclose()
            lines.append(
                f"{label}: {timings_line(timings)}  ({len(changes)} changes in {runs} turns)"
            )

        local = memory_settings(root / "local", local={"chat_model": str(chat_model)})
        await timed(local, "tiny random-weights GGUF, local ")

        with ScriptedOpenAI(model="scripted", default=Reply.of("{}")) as server:
            remote = memory_settings(
                root / "remote", mode="online", llm={"url": server.url, "model": "scripted"}
            )

            def two_facts(i: int) -> None:
                server.script(
                    Reply.of_json(
                        {
                            "facts": [
                                {"text": f"The user's name is Minsu {i}", "category": "name"},
                                {"text": f"The user likes coffee number {i}", "category": "food"},
                            ]
                        }
                    )
                )

            await timed(remote, "scripted 2-fact answer, remote  ", two_facts)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines.append("runs after the reply node: the reply and its first token never wait for it")
    report("update_memory after the reply (store of 1,000 memories)", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--qdrant-runs", type=int, default=5, help="at sizes over 10k")
    parser.add_argument("--update-runs", type=int, default=10)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    async def run_all() -> None:
        await bench_search(sizes, args.queries, args.qdrant_runs)
        await bench_embedding(args.queries)
        await bench_update_memory(args.update_runs)

    asyncio.run(run_all())


if __name__ == "__main__":
    main()
