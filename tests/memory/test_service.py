"""One owner per store, others as its clients; when the owner quits, a client takes over."""

from __future__ import annotations

import asyncio

from agent.memory.service import MemoryService
from tests.memory.conftest import USER, both_backends
from tests.support.word_embedder import WordOverlapEmbedder


async def _collect(memory: MemoryService, into: list[str]) -> None:
    async for event in memory.changes():
        into.append(event.describe())


async def test_the_second_service_is_a_client_and_takes_over_when_the_owner_quits(
    settings,
) -> None:
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder())
    await client.start()
    seen_by_owner: list[str] = []
    seen_by_client: list[str] = []
    watchers = [
        asyncio.create_task(_collect(owner, seen_by_owner)),
        asyncio.create_task(_collect(client, seen_by_client)),
    ]
    try:
        assert (owner.role, client.role) == ("owner", "client")
        assert client.service_status().state == "ok"
        await asyncio.sleep(0.05)

        added = await client.add("The user likes cold brew", user_id=USER, category="food")
        assert [r.id for r in await owner.list(user_id=USER)] == [added.record.id]
        await asyncio.sleep(0.1)
        assert seen_by_owner == seen_by_client == ["remembered: The user likes cold brew"]

        await owner.aclose()
        listed = await client.list(user_id=USER)  # fails over: the client now owns the store
        assert [r.id for r in listed] == [added.record.id]
        assert client.role == "owner"
        await client.add("The user likes hot chocolate", user_id=USER)
        assert len(await client.list(user_id=USER)) == 2
    finally:
        for watcher in watchers:
            watcher.cancel()
        await client.aclose()
        await owner.aclose()


@both_backends
async def test_memory_off_in_settings_means_off_with_a_reason(tmp_path, store_settings) -> None:
    from tests.memory.conftest import memory_settings

    settings = memory_settings(tmp_path, memory={"enabled": False}, **store_settings)
    memory = MemoryService(settings)
    await memory.start()
    status = memory.service_status()
    assert (status.name, status.state, status.detail) == (
        "memory",
        "off",
        "memory.enabled is false",
    )
    assert not memory.usable
    assert not (tmp_path / "memory").exists()
    await memory.aclose()
