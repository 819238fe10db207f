"""A store built with embeddings of another size fails clearly, and reindex rebuilds it."""

from __future__ import annotations

import pytest

from agent.memory import tiers
from agent.memory.engine import MemoryEngine
from agent.memory.errors import MemoryUnavailable, VectorSizeMismatch
from tests.memory.conftest import USER, both_backends
from tests.support.word_embedder import WordOverlapEmbedder

TEXTS = ["The user likes green tea", "The user's cat is called Nabi", "The user lives in Seoul"]


async def _build(settings, dims: int) -> None:
    engine = MemoryEngine(settings, WordOverlapEmbedder(dims))
    await engine.open()
    for text in TEXTS:
        await engine.add(text=text, user_id=USER, category="life")
    await engine.cleanup(user_id=USER, days=1)  # nothing stale: all stay fresh
    await engine.aclose()


@both_backends
async def test_a_store_of_another_vector_size_fails_clearly_until_reindexed(settings) -> None:
    await _build(settings, 32)
    engine = MemoryEngine(settings, WordOverlapEmbedder(48))
    await engine.open()
    try:
        status = engine.status_now()
        assert status.state == "error"
        for words in ("32-dimensional", "48-dimensional", "termmate memory reindex"):
            assert words in status.detail
        with pytest.raises(VectorSizeMismatch, match="termmate memory reindex"):
            await engine.search(query="tea", user_id=USER)
        with pytest.raises(VectorSizeMismatch):
            await engine.add(text="The user likes coffee", user_id=USER)
        assert len(await engine.list(user_id=USER)) == 3  # reading needs no embeddings

        report = await engine.reindex()
        assert (report.count, report.dims) == (3, 48)
        assert engine.status_now().state == "ok"
        hits = await engine.search(query="the user likes green tea", user_id=USER)
        assert hits.hits[0].text == "The user likes green tea"
        assert sorted(r.text for r in await engine.list(user_id=USER)) == sorted(TEXTS)
    finally:
        await engine.aclose()


async def test_an_interrupted_reindex_keeps_every_memory_and_finishes_later(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _build(settings, 32)
    before = {r.id: r for r in await _listed(settings, 32)}

    def power_cut(*args, **kwargs) -> None:
        raise RuntimeError("power cut")

    engine = MemoryEngine(settings, WordOverlapEmbedder(48))
    await engine.open()
    monkeypatch.setattr(tiers, "restore", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):
        await engine.reindex()
    monkeypatch.undo()
    assert engine.paths.reindex_backup.exists()
    with pytest.raises(MemoryUnavailable, match=r"reindex .* was interrupted"):
        await engine.list(user_id=USER)
    await engine.aclose()

    engine = MemoryEngine(settings, WordOverlapEmbedder(48))
    await engine.open()
    try:
        assert "interrupted" in engine.status_now().detail
        assert (await engine.reindex()).count == 3
        after = {r.id: r for r in await engine.list(user_id=USER)}
        assert after == before  # same ids, texts, categories, tiers and dates
        assert not engine.paths.reindex_backup.exists()
    finally:
        await engine.aclose()


async def _listed(settings, dims: int) -> list:
    engine = MemoryEngine(settings, WordOverlapEmbedder(dims))
    await engine.open()
    try:
        return await engine.list(user_id=USER)
    finally:
        await engine.aclose()
