"""Fresh/Old tiers: cleanup moves exactly the stale memories, loses none even when killed, and
search reaches old memories when fresh ones are not enough (Sequential Probing). On the store
on disk and on PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import textwrap
from datetime import timedelta

import pytest

from agent.memory.engine import MemoryEngine
from agent.memory.timestamps import format_utc, now_utc
from tests.memory.conftest import USER, both_backends, memory_settings
from tests.support.cli import ROOT, run_python
from tests.support.stores import Store

pytestmark = both_backends

STALE = [f"The user visited city number {i} on a trip" for i in range(6)]
RECENT = [f"The user is reading book number {i} this week" for i in range(4)]


def days_ago(days: int) -> str:
    return format_utc(now_utc() - timedelta(days=days))


async def _seed(engine: MemoryEngine) -> tuple[set[str], set[str]]:
    stale, recent = set(), set()
    for i, text in enumerate(STALE):
        outcome = await engine.add(text=text, user_id=USER, updated_at=days_ago(40 + i))
        stale.add(outcome.record.id)
    for i, text in enumerate(RECENT):
        outcome = await engine.add(text=text, user_id=USER, updated_at=days_ago(i))
        recent.add(outcome.record.id)
    return stale, recent


async def _tiers(engine: MemoryEngine) -> tuple[set[str], set[str]]:
    fresh = {r.id for r in await engine.list(user_id=USER, tier="fresh")}
    old = {r.id for r in await engine.list(user_id=USER, tier="old")}
    return fresh, old


async def test_cleanup_moves_exactly_the_stale_memories(engine: MemoryEngine) -> None:
    stale, recent = await _seed(engine)
    assert await _tiers(engine) == (stale | recent, set())
    before = {r.id: r for r in await engine.list(user_id=USER)}

    report = await engine.cleanup(user_id=USER, days=30)

    assert (report.moved, report.kept, report.days) == (len(stale), len(recent), 30)
    assert await _tiers(engine) == (recent, stale)
    after = {r.id: r for r in await engine.list(user_id=USER)}
    for point_id, record in after.items():  # text, category and updated_at move unchanged
        expected = before[point_id].model_copy(update={"tier": after[point_id].tier})
        assert record == expected
    assert (await engine.cleanup(user_id=USER, days=30)).moved == 0  # nothing left to do


async def test_search_extends_to_old_memories_when_fresh_ones_are_not_enough(
    engine: MemoryEngine,
) -> None:
    stale, _ = await _seed(engine)
    await engine.cleanup(user_id=USER, days=30)

    found = await engine.search(query="which city did the user visit on a trip", user_id=USER)
    assert found.hits and {h.id for h in found.hits} <= stale
    assert {h.tier for h in found.hits} == {"old"}
    assert found.hits == sorted(found.hits, key=lambda h: h.score, reverse=True)


async def test_a_full_fresh_page_does_not_probe_old(engine: MemoryEngine) -> None:
    await engine.add(text="The user likes hiking", user_id=USER, updated_at=days_ago(90))
    await engine.cleanup(user_id=USER, days=30)
    for i in range(5):
        await engine.add(text=f"The user likes hiking trail {i}", user_id=USER)
    found = await engine.search(query="The user likes hiking", user_id=USER, k=5)
    assert [h.tier for h in found.hits] == ["fresh"] * 5


async def test_sequential_probing_can_be_switched_off(tmp_path, embedder, store_settings) -> None:
    settings = memory_settings(
        tmp_path / "data", memory={"sequential_probing": False}, **store_settings
    )
    engine = MemoryEngine(settings, embedder)
    await engine.open()
    try:
        await engine.add(text="The user likes hiking", user_id=USER, updated_at=days_ago(90))
        await engine.cleanup(user_id=USER, days=30)
        assert (await engine.search(query="hiking", user_id=USER)).hits == []
    finally:
        await engine.aclose()


async def test_cleanup_interrupted_midway_loses_nothing_and_a_rerun_finishes(
    engine: MemoryEngine, backend: Store
) -> None:
    stale, recent = await _seed(engine)
    copied: list[str] = []

    def fail_on_third_copy(step: str, point_id: str) -> None:
        if step == "copied":
            copied.append(point_id)
            if len(copied) == 3:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        await engine.cleanup(user_id=USER, days=30, progress=fail_on_third_copy)

    fresh, old = await _tiers(engine)
    assert copied[2] in fresh
    # On disk: copied, not yet deleted. In PostgreSQL a move is one transaction: undone.
    assert (copied[2] in old) == (not backend.shared)
    assert fresh | old == stale | recent
    listed = await engine.list(user_id=USER)
    assert len(listed) == len(stale | recent)  # one entry per memory meanwhile

    report = await engine.cleanup(user_id=USER, days=30)
    assert report.moved == len(stale) - 2
    assert await _tiers(engine) == (recent, stale)


KILL_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    import agent.memory
    from agent.memory.engine import MemoryEngine
    from tests.memory.conftest import memory_settings
    from tests.support.word_embedder import WordOverlapEmbedder

    async def main():
        settings = memory_settings(Path({data!r}), **{store!r})
        engine = MemoryEngine(settings, WordOverlapEmbedder())
        await engine.open()
        copies = []
        def progress(step, point_id):
            if step == "copied":
                copies.append(point_id)
                if len(copies) == 3:
                    print(point_id, flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
        await engine.cleanup(user_id="minsu", days=30, progress=progress)

    asyncio.run(main())
    """
)


async def test_cleanup_killed_midway_loses_nothing(
    tmp_path, embedder, backend: Store, store_settings
) -> None:
    data = tmp_path / "data"
    engine = MemoryEngine(memory_settings(data, **store_settings), embedder)
    await engine.open()
    stale, recent = await _seed(engine)
    await engine.aclose()

    script = KILL_SCRIPT.format(repo=str(ROOT), data=str(data), store=store_settings)
    killed = await asyncio.to_thread(run_python, "-c", script)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    half_moved = killed.stdout.strip()

    engine = MemoryEngine(memory_settings(data, **store_settings), embedder)
    await engine.open()
    try:
        fresh, old = await _tiers(engine)
        assert half_moved in fresh
        # On disk: copied, not yet deleted. In PostgreSQL the killed move's transaction is gone.
        assert (half_moved in old) == (not backend.shared)
        assert fresh | old == stale | recent
        await engine.cleanup(user_id=USER, days=30)
        assert await _tiers(engine) == (recent, stale)
        texts = sorted(r.text for r in await engine.list(user_id=USER))
        assert texts == sorted(STALE + RECENT)
    finally:
        await engine.aclose()
