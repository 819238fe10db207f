"""While the store opens (a first-run model download, a slow load, a big store), direct calls
fail at once; callers that need memory wait for it with ``ready()``: the CLI, and every turn's
memory search (Search-Before-Act), bounded by memory.search_timeout_s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from agent.events import MemorySearched
from agent.memory.errors import MemoryUnavailable
from agent.memory.service import MemoryService, with_memory
from agent.nodes.query_memory import query_memory
from tests.memory.conftest import USER, both_backends, memory_settings
from tests.support.nodes import NodeContext, run_node, turn
from tests.support.word_embedder import WordOverlapEmbedder

pytestmark = both_backends


class LoadingEmbedder(WordOverlapEmbedder):
    """Test double: a model that is still loading until ``loaded`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = asyncio.Event()

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        await self.loaded.wait()
        return await super().embed(texts, kind)


def _with_search_timeout(settings, seconds: float):
    return settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"search_timeout_s": seconds})}
    )


async def test_calls_while_starting_fail_at_once_and_ready_waits(settings) -> None:
    embedder = LoadingEmbedder()
    memory = MemoryService(settings, embedder=embedder)
    starting = asyncio.create_task(memory.start())
    try:
        await asyncio.sleep(0.1)
        assert memory.status.state == "starting"
        assert not memory.usable
        assert memory.service_status().state == "loading"

        began = time.monotonic()
        for call in (
            memory.search("tea", user_id=USER),
            memory.categories(),
            memory.list(user_id=USER),
            memory.add("The user likes tea", user_id=USER),
        ):
            with pytest.raises(MemoryUnavailable, match="memory is still starting"):
                await call
        assert time.monotonic() - began < 1.0

        waiting = asyncio.create_task(memory.ready())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        embedder.loaded.set()
        status = await asyncio.wait_for(waiting, 10)
        assert status.state == "ok" and memory.usable
        await memory.add("The user likes tea", user_id=USER)
        assert [hit.text for hit in (await memory.search("tea", user_id=USER)).hits] == [
            "The user likes tea"
        ]
        await starting
    finally:
        embedder.loaded.set()
        await starting
        await memory.aclose()


async def test_a_turn_waits_for_the_store_within_the_search_timeout(settings) -> None:
    """Search-Before-Act on a store still opening: the turn's search waits for it, and finds
    what is there once it opens."""
    embedder = LoadingEmbedder()
    embedder.loaded.set()
    async with asyncio.timeout(30):
        memory = MemoryService(settings, embedder=embedder)
        await memory.start()
        await memory.add("The user likes green tea", user_id=USER)
        await memory.aclose()

    embedder.loaded.clear()
    settings = _with_search_timeout(settings, 10.0)
    memory = MemoryService(settings, embedder=embedder)
    starting = asyncio.create_task(memory.start())
    try:
        asyncio.get_running_loop().call_later(0.5, embedder.loaded.set)
        update, events = await run_node(
            query_memory,
            turn("the user likes which green tea?"),
            NodeContext(settings, None, memory),
        )
        assert [m["text"] for m in update["memories"]] == ["The user likes green tea"]
        [searched] = [e for e in events if isinstance(e, MemorySearched)]
        assert searched.outcome == "searched" and searched.hits == 1
        assert searched.elapsed_ms >= 400  # it waited for the store to open
    finally:
        embedder.loaded.set()
        await starting
        await memory.aclose()


async def test_a_store_still_opening_after_the_timeout_is_not_ready(settings) -> None:
    embedder = LoadingEmbedder()
    settings = _with_search_timeout(settings, 0.5)
    memory = MemoryService(settings, embedder=embedder)
    starting = asyncio.create_task(memory.start())
    try:
        began = time.monotonic()
        update, events = await run_node(
            query_memory, turn("what do I like?"), NodeContext(settings, None, memory)
        )
        waited = time.monotonic() - began
        assert update == {"memories": []}
        [searched] = [e for e in events if isinstance(e, MemorySearched)]
        assert searched.outcome == "not ready"
        assert "memory.search_timeout_s" in (searched.reason or "")
        assert 0.4 <= waited < 3.0  # the timeout, counted once, not more
    finally:
        embedder.loaded.set()
        await starting
        await memory.aclose()


async def test_the_cli_waits_for_the_start(tmp_path, store_settings) -> None:
    embedder = LoadingEmbedder()
    asyncio.get_running_loop().call_later(0.3, embedder.loaded.set)

    async def work(memory: MemoryService) -> list[str]:
        await memory.add("The user likes tea", user_id=USER, category="food")
        return await memory.categories()

    settings = memory_settings(tmp_path / "data", **store_settings)
    assert await with_memory(settings, work, embedder=embedder) == ["food"]
