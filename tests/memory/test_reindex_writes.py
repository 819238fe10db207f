"""A reindex loses no write: writes under way finish first, writes that arrive wait for it.

A reindex snapshots every memory, re-embeds the snapshot and rebuilds the store from it; a
write landing in between would be wiped. The embedder (a test double) holds chosen texts
mid-embedding, so the test decides what is under way when the reindex looks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.memory.engine import MemoryEngine
from agent.memory.service import MemoryService
from tests.memory.conftest import USER, both_backends, memory_settings, subprocess_env
from tests.support.cli import run_termmate
from tests.support.holding_embedder import HoldingEmbedder
from tests.support.waiting import eventually
from tests.support.word_embedder import WordOverlapEmbedder

TEA = "The user likes green tea"
NABI = "The user's cat is called Nabi"  # "Nabi" holds the reindex's own re-embedding
SEOUL = "The user lives in Seoul"
SEEDED = [TEA, NABI, SEOUL]
VIOLIN = "The user plays the violin"
OOLONG = "The user likes oolong tea"


async def _seed(engine: MemoryEngine) -> dict[str, str]:
    ids = {}
    for text in SEEDED:
        ids[text] = (await engine.add(text=text, user_id=USER, category="life")).record.id
    return ids


async def _texts(engine: MemoryEngine) -> dict[str, str]:
    return {record.id: record.text for record in await engine.list(user_id=USER)}


@both_backends
async def test_writes_under_way_when_a_reindex_starts_are_kept(settings) -> None:
    embedder = HoldingEmbedder()
    engine = MemoryEngine(settings, embedder)
    await engine.open()
    try:
        ids = await _seed(engine)
        adding, updating = embedder.hold("violin"), embedder.hold("oolong")
        add = asyncio.create_task(engine.add(text=VIOLIN, user_id=USER))
        update = asyncio.create_task(engine.update(memory_id=ids[TEA], user_id=USER, text=OOLONG))
        await asyncio.wait_for(asyncio.gather(adding.entered.wait(), updating.entered.wait()), 10)

        reembedding = embedder.hold("Nabi")
        reindex = asyncio.create_task(engine.reindex())
        # Either the reindex waits for the two writes, or it has taken its snapshot already
        # and is re-embedding it (then the writes below land after the snapshot).
        await eventually(
            lambda: (
                reembedding.entered.is_set()
                or (engine.writes.reindexing and engine.writes.writing == 2)
            ),
            what="the reindex to start",
        )
        adding.release()
        updating.release()
        added, updated = await asyncio.wait_for(asyncio.gather(add, update), 10)
        reembedding.release()
        report = await asyncio.wait_for(reindex, 30)

        assert added.created and updated.applied
        texts = await _texts(engine)
        assert texts.get(added.record.id) == VIOLIN
        assert texts[ids[TEA]] == OOLONG
        assert report.count == len(SEEDED) + 1
    finally:
        await engine.aclose()


async def _build(settings, dims: int) -> None:
    engine = MemoryEngine(settings, WordOverlapEmbedder(dims))
    await engine.open()
    await _seed(engine)
    await engine.aclose()


@both_backends
async def test_writes_arriving_during_a_reindex_wait_and_use_the_rebuilt_store(settings) -> None:
    await _build(settings, 32)
    embedder = HoldingEmbedder(48)  # another vector size: writes fail until the reindex
    engine = MemoryEngine(settings, embedder)
    await engine.open()
    try:
        ids = {text: point_id for point_id, text in (await _texts(engine)).items()}
        reembedding = embedder.hold("Nabi")
        reindex = asyncio.create_task(engine.reindex())
        await asyncio.wait_for(reembedding.entered.wait(), 10)  # the snapshot is taken

        writes = [
            asyncio.create_task(engine.add(text=VIOLIN, user_id=USER)),
            asyncio.create_task(engine.update(memory_id=ids[TEA], user_id=USER, text=OOLONG)),
            asyncio.create_task(engine.delete(memory_id=ids[SEOUL], user_id=USER)),
        ]
        await eventually(
            lambda: engine.writes.waiting == 3 or any(write.done() for write in writes),
            what="the writes to reach the store",
        )
        reembedding.release()
        report = await asyncio.wait_for(reindex, 30)
        added, updated, deleted = await asyncio.wait_for(asyncio.gather(*writes), 10)

        assert (report.count, report.dims) == (len(SEEDED), 48)
        assert added.created and updated.applied and deleted.id == ids[SEOUL]
        texts = await _texts(engine)
        assert sorted(texts.values()) == sorted([NABI, OOLONG, VIOLIN])
        # Embedded after the reindex, with the model the store was rebuilt for.
        found = await engine.search(query="the user plays the violin", user_id=USER, k=1)
        assert [hit.id for hit in found.hits] == [added.record.id]
        assert engine.status_now().state == "ok"
    finally:
        await engine.aclose()


async def test_a_memory_add_from_another_process_during_a_reindex_is_kept(
    tmp_path: Path,
) -> None:
    settings = memory_settings(tmp_path / "data")
    embedder = HoldingEmbedder()
    owner = MemoryService(settings, embedder=embedder)
    await owner.start()
    try:
        assert owner.role == "owner", owner.status
        for text in SEEDED:
            await owner.add(text, user_id=USER)
        reembedding = embedder.hold("Nabi")
        reindex = asyncio.create_task(owner.reindex())
        await asyncio.wait_for(reembedding.entered.wait(), 10)

        cli = asyncio.create_task(
            asyncio.to_thread(
                run_termmate,
                subprocess_env(settings),
                "memory",
                "add",
                VIOLIN,
                "--category",
                "music",
            )
        )
        gate = owner._engine.writes  # the owner's store: the other process's add waits there
        await eventually(
            lambda: gate.waiting == 1 or cli.done(), timeout_s=60, what="the add to arrive"
        )
        reembedding.release()
        await asyncio.wait_for(reindex, 30)
        run = await asyncio.wait_for(cli, 60)

        assert run.returncode == 0, run.stderr
        assert "remembered" in run.stdout
        texts = {record.text for record in await owner.list(user_id=USER)}
        assert texts == {*SEEDED, VIOLIN}
    finally:
        await owner.aclose()
