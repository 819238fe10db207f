"""Every change says where it came from: "turn" (the agent after a reply, through MemoryTools),
"user" (the CLI, the memory pane, an import) or "cleanup" (a move between tiers), in this
process and in every other one."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from agent.memory.events import MemoryChanged
from agent.memory.schemas import ImportItem
from agent.memory.service import MemoryService
from agent.memory.timestamps import format_utc, now_utc
from agent.memory.tools import MemoryTools
from tests.memory.conftest import USER
from tests.memory.word_embedder import WordOverlapEmbedder


def test_the_origin_crosses_processes_with_the_rest_of_the_change() -> None:
    change = MemoryChanged(
        action="added",
        memory_id="m1",
        text="The user likes tea",
        category="food",
        tier="fresh",
        user_id=USER,
        origin="turn",
    )
    assert MemoryChanged.from_dict(change.as_dict()) == change
    assert change.as_dict()["origin"] == "turn"
    assert not hasattr(change, "__dict__")  # slots
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.origin = "user"  # type: ignore[misc]


async def _collect(memory: MemoryService, into: list[tuple[str, str, str]]) -> None:
    async for change in memory.changes():
        into.append((change.action, change.text, change.origin))


async def test_changes_carry_their_origin_to_every_process(settings) -> None:
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder())
    await client.start()
    seen_by_owner: list[tuple[str, str, str]] = []
    seen_by_client: list[tuple[str, str, str]] = []
    watchers = [
        asyncio.create_task(_collect(owner, seen_by_owner)),
        asyncio.create_task(_collect(client, seen_by_client)),
    ]
    try:
        assert (owner.role, client.role) == ("owner", "client")
        await asyncio.sleep(0.05)

        tools = MemoryTools(client)  # as the agent's nodes use them
        await tools.add_memory("The user likes tea", USER)
        found = await tools.search_memory("The user likes tea", USER)
        await tools.update_memory(found.hits[0].id, content="The user likes green tea")
        cat = await client.add("The user has a cat", user_id=USER, category="pets")
        await client.update(cat.record.id, user_id=USER, text="The user has two cats")
        long_ago = format_utc(now_utc() - timedelta(days=90))
        await client.import_items(
            [ImportItem(text="The user once lived in Paris", category="past", updated_at=long_ago)],
            user_id=USER,
        )
        await client.add("The user went to Jeju", user_id=USER, updated_at=long_ago)
        await client.cleanup(user_id=USER, days=30)
        await tools.delete_memory(found.hits[0].id)
        await client.delete(cat.record.id, user_id=USER)
        await asyncio.sleep(0.2)

        expected = [
            ("added", "The user likes tea", "turn"),
            ("updated", "The user likes green tea", "turn"),
            ("added", "The user has a cat", "user"),
            ("updated", "The user has two cats", "user"),
            ("added", "The user once lived in Paris", "user"),
            ("added", "The user went to Jeju", "user"),
            ("moved", "The user went to Jeju", "cleanup"),
            ("deleted", "The user likes green tea", "turn"),
            ("deleted", "The user has two cats", "user"),
        ]
        assert seen_by_owner == seen_by_client == expected
        assert [c.origin for c in tools.changes] == ["turn", "turn", "turn"]
        assert MemoryTools(client, origin="user").origin == "user"
    finally:
        for watcher in watchers:
            watcher.cancel()
        await client.aclose()
        await owner.aclose()
