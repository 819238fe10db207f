"""The store: mem0 over real Qdrant local and SQLite, or over PostgreSQL with pgvector, scoped by
user, every item dated and filed."""

from __future__ import annotations

import pytest

from agent.memory.engine import MemoryEngine
from agent.memory.errors import InvalidMemoryInput, MemoryNotFound
from agent.memory.timestamps import parse_utc
from tests.memory.conftest import USER, both_backends
from tests.support.cli import run_python

pytestmark = both_backends

OTHER = "jane doe"  # with a space: mem0 refuses those in ids, termmate encodes them


async def test_add_search_update_delete_go_through_mem0(
    engine: MemoryEngine,
) -> None:
    added = await engine.add(text="The user likes black coffee", user_id=USER, category="Food")
    await engine.add(text="The user's sister lives in Busan", user_id=USER, category="family")
    assert added.created

    found = await engine.search(query="what coffee does the user like", user_id=USER)
    assert found.hits[0].id == added.record.id
    assert found.hits[0].tier == "fresh"

    updated = await engine.update(
        memory_id=added.record.id, user_id=USER, text="The user likes green tea"
    )
    assert updated.applied and updated.record.text == "The user likes green tea"
    assert parse_utc(updated.record.updated_at) >= parse_utc(added.record.updated_at)
    found = await engine.search(query="green tea", user_id=USER)
    assert found.hits[0].text == "The user likes green tea"

    await engine.delete(memory_id=added.record.id, user_id=USER)
    assert await engine.get(memory_id=added.record.id, user_id=USER) is None
    # No change history is kept (test_forgetting.py checks the bytes on disk).


async def test_every_item_carries_updated_at_and_category_in_its_payload(
    engine: MemoryEngine,
) -> None:
    added = await engine.add(text="The user is learning Rust", user_id=USER, category="Skills")
    payload = engine.store.vectors("fresh").index.get(added.record.id)
    assert payload["category"] == "skills"
    assert parse_utc(payload["updated_at"]).utcoffset().total_seconds() == 0
    record = added.record
    assert record.metadata.category == "skills"
    assert record.metadata.updated_at.endswith("Z")


async def test_the_same_text_is_not_stored_twice(engine: MemoryEngine) -> None:
    first = await engine.add(text="The user runs every morning", user_id=USER)
    again = await engine.add(text="  The user runs every morning ", user_id=USER)
    assert not again.created and again.record.id == first.record.id
    assert len(await engine.list(user_id=USER)) == 1


async def test_users_never_see_or_change_each_others_memories(engine: MemoryEngine) -> None:
    mine = await engine.add(text="The user likes coffee", user_id=USER)
    theirs = await engine.add(text="The user likes coffee", user_id=OTHER)
    assert theirs.created and theirs.record.id != mine.record.id

    assert [r.id for r in await engine.list(user_id=OTHER)] == [theirs.record.id]
    hits = await engine.search(query="coffee", user_id=OTHER, min_score=0)
    assert [h.id for h in hits.hits] == [theirs.record.id]
    assert await engine.get(memory_id=mine.record.id, user_id=OTHER) is None
    with pytest.raises(MemoryNotFound):
        await engine.update(memory_id=mine.record.id, user_id=OTHER, text="hijacked")
    with pytest.raises(MemoryNotFound):
        await engine.delete(memory_id=mine.record.id[:8], user_id=OTHER)
    assert (await engine.get(memory_id=mine.record.id, user_id=USER)).text == (
        "The user likes coffee"
    )
    assert await engine.list(user_id="nobody") == []


async def test_the_newer_updated_at_wins_a_conflict(engine: MemoryEngine) -> None:
    added = await engine.add(text="The user lives in Seoul", user_id=USER)
    stale = await engine.update(
        memory_id=added.record.id,
        user_id=USER,
        text="The user lives in Daegu",
        updated_at="2020-01-01T00:00:00Z",
    )
    assert not stale.applied and "updated later" in (stale.reason or "")
    assert (await engine.get(memory_id=added.record.id, user_id=USER)).text.endswith("Seoul")
    fresh = await engine.update(
        memory_id=added.record.id,
        user_id=USER,
        text="The user lives in Daegu",
        updated_at="2999-01-01T00:00:00Z",
    )
    assert fresh.applied and fresh.record.text.endswith("Daegu")


async def test_ids_may_be_shortened_to_an_unambiguous_prefix(engine: MemoryEngine) -> None:
    added = await engine.add(text="The user has a cat named Nabi", user_id=USER)
    record = await engine.delete(memory_id=added.record.id[:8], user_id=USER)
    assert record.id == added.record.id
    with pytest.raises(MemoryNotFound, match="termmate memory list"):
        await engine.delete(memory_id=added.record.id, user_id=USER)


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
async def test_unusable_text_is_refused_with_a_reason(engine: MemoryEngine, text: str) -> None:
    with pytest.raises(InvalidMemoryInput):
        await engine.add(text=text, user_id=USER)


async def test_memories_survive_closing_and_reopening(settings, embedder) -> None:
    first = MemoryEngine(settings, embedder)
    await first.open()
    added = await first.add(text="The user's birthday is in May", user_id=USER)
    await first.aclose()

    second = MemoryEngine(settings, embedder)
    await second.open()
    try:
        hits = await second.search(query="birthday", user_id=USER)
        assert [h.id for h in hits.hits] == [added.record.id]
    finally:
        await second.aclose()


EMBEDDED_ONLY = """
import asyncio, sys
from pathlib import Path
import agent.memory
from agent.memory.engine import MemoryEngine
from tests.memory.conftest import memory_settings
from tests.support.word_embedder import WordOverlapEmbedder

async def main():
    engine = MemoryEngine(memory_settings(Path(sys.argv[1])), WordOverlapEmbedder())
    await engine.open()
    await engine.add(text="The user likes tea", user_id="minsu")
    await engine.search(query="tea", user_id="minsu")
    await engine.aclose()

asyncio.run(main())
print(sorted(name for name in sys.modules if name.split(".")[0] in ("psycopg", "psycopg_pool")))
"""


def test_the_store_on_disk_never_loads_psycopg(tmp_path) -> None:
    run = run_python("-c", EMBEDDED_ONLY, str(tmp_path / "data"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
