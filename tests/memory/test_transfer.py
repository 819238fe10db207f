"""Copying a store's memories into another exactly as they are (for `termmate store migrate`):
ids, tiers, categories, dates, payloads and vectors; a copy cut short is finished by running it
again, and a second run adds nothing. From the store on disk into PostgreSQL, and back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from agent.memory.engine import MemoryEngine
from agent.memory.errors import VectorSizeMismatch
from agent.memory.timestamps import format_utc, now_utc
from agent.memory.transfer import StoredMemory, count_memories, read_memories, write_memories
from tests.memory.conftest import USER, memory_settings
from tests.support.word_embedder import WordOverlapEmbedder

OTHER = "jane doe"
QUERIES = ["what does the user drink", "where did the user travel", "the user's pets"]


async def _opened(data: Path, **overrides) -> MemoryEngine:
    engine = MemoryEngine(memory_settings(data, **overrides), WordOverlapEmbedder())
    await engine.open()
    return engine


@pytest.fixture
async def disk(tmp_path: Path) -> AsyncIterator[MemoryEngine]:
    """A store on disk with memories of two users in both tiers, in several categories."""
    engine = await _opened(tmp_path / "disk")
    long_ago = format_utc(now_utc() - timedelta(days=90))
    for text, category in [
        ("The user drinks green tea every morning", "food"),
        ("The user has a cat called Nabi", "pets"),
        ("The user likes black coffee", "food"),
    ]:
        await engine.add(text=text, user_id=USER, category=category)
    for text in ("The user travelled to Jeju", "The user travelled to Busan"):
        await engine.add(text=text, user_id=USER, category="travel", updated_at=long_ago)
    await engine.add(text="The user has a dog", user_id=OTHER, category="pets")
    await engine.cleanup(user_id=None, days=30)
    yield engine
    await engine.aclose()


async def _everything(engine: MemoryEngine, page: int = 500) -> list[StoredMemory]:
    return [memory async for batch in read_memories(engine.store, page) for memory in batch]


def _by_id(memories: list[StoredMemory]) -> dict[str, StoredMemory]:
    return {memory.id: memory for memory in memories}


async def _records(engine: MemoryEngine, user_id: str) -> list:
    """The user's memories as ``list`` gives them, in id order (dates may tie)."""
    return sorted(await engine.list(user_id=user_id), key=lambda record: record.id)


async def test_every_memory_moves_into_postgresql_as_it_is_and_a_second_run_adds_nothing(
    disk: MemoryEngine, tmp_path: Path, pg_url: str
) -> None:
    source = await _everything(disk, page=2)  # several pages per tier
    assert {m.tier for m in source} == {"fresh", "old"}
    shared = await _opened(tmp_path / "shared", store={"url": pg_url})
    try:
        cut_short = await write_memories(shared.store, source[:3])
        assert await write_memories(shared.store, source) == len(source) - cut_short
        assert await write_memories(shared.store, source) == 0
        assert await count_memories(shared.store) == len(source)

        copied = _by_id(await _everything(shared))
        for memory in source:
            copy = copied[memory.id]
            assert (copy.tier, copy.payload) == (memory.tier, memory.payload)
            assert np.allclose(copy.vector, memory.vector, atol=1e-6)
        for user in (USER, OTHER):
            assert await _records(shared, user) == await _records(disk, user)
        for query in QUERIES:
            before = await disk.search(query=query, user_id=USER, min_score=0)
            after = await shared.search(query=query, user_id=USER, min_score=0)
            assert [hit.id for hit in after.hits] == [hit.id for hit in before.hits]
        assert await shared.categories() == await disk.categories()
    finally:
        await shared.aclose()


async def test_memories_copy_back_from_postgresql_onto_disk(
    disk: MemoryEngine, tmp_path: Path, pg_url: str
) -> None:
    shared = await _opened(tmp_path / "shared", store={"url": pg_url})
    back = await _opened(tmp_path / "back")
    try:
        await write_memories(shared.store, await _everything(disk))
        source = await _everything(shared, page=3)
        assert await write_memories(back.store, source) == len(source)
        assert await write_memories(back.store, source) == 0
        assert await _records(back, USER) == await _records(disk, USER)
    finally:
        await back.aclose()
        await shared.aclose()


async def test_memories_of_another_vector_size_are_refused(
    disk: MemoryEngine, tmp_path: Path
) -> None:
    smaller = MemoryEngine(memory_settings(tmp_path / "small"), WordOverlapEmbedder(32))
    await smaller.open()
    try:
        with pytest.raises(VectorSizeMismatch, match="32-dimensional"):
            await write_memories(smaller.store, await _everything(disk))
        assert await smaller.list(user_id=USER) == []
    finally:
        await smaller.aclose()
