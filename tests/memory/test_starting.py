"""While the store opens (a first-run model download, a slow load, a big store), turns go on
without memory at once; only callers that ask to (``ready()``: the CLI) wait for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from agent.memory.errors import MemoryUnavailable
from agent.memory.service import MemoryService, with_memory
from agent.nodes.query_memory import query_memory
from tests.memory.conftest import USER, memory_settings
from tests.memory.nodes import NodeContext, run_node, turn
from tests.memory.word_embedder import WordOverlapEmbedder


class LoadingEmbedder(WordOverlapEmbedder):
    """Test double: a model that is still loading until ``loaded`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = asyncio.Event()

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        await self.loaded.wait()
        return await super().embed(texts, kind)


async def test_calls_while_starting_fail_at_once_and_ready_waits(settings) -> None:
    embedder = LoadingEmbedder()
    settings = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"search_timeout_s": 5.0})}
    )
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
        update, _ = await run_node(
            query_memory, turn("what do I like?"), NodeContext(settings, None, memory)
        )
        assert update == {"memories": []}
        assert time.monotonic() - began < 1.0  # not memory.search_timeout_s (5 s)

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


async def test_the_cli_waits_for_the_start(tmp_path) -> None:
    embedder = LoadingEmbedder()
    asyncio.get_running_loop().call_later(0.3, embedder.loaded.set)

    async def work(memory: MemoryService) -> list[str]:
        await memory.add("The user likes tea", user_id=USER, category="food")
        return await memory.categories()

    settings = memory_settings(tmp_path / "data")
    assert await with_memory(settings, work, embedder=embedder) == ["food"]
