"""query_memory: the search that runs before reasoning, and what it puts into the prompt."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.memory.service import MemoryService
from agent.nodes.query_memory import query_memory
from agent.prompt import system_prompt
from tests.memory.conftest import USER, memory_settings
from tests.support.nodes import NodeContext, run_node, turn


async def test_hits_go_into_state_and_into_the_prompt(service: MemoryService, settings) -> None:
    coffee = await service.add("The user loves black coffee", user_id=USER, category="food")
    await service.add("The user's sister lives in Busan", user_id=USER, category="family")

    update, events = await run_node(
        query_memory,
        turn("Which black coffee does the user love?"),
        NodeContext(settings, None, service),
    )

    # The one event says how Search-Before-Act went (it reaches TurnFinished.memory).
    assert [(e.outcome, e.hits) for e in events] == [("searched", 2)]
    memories = update["memories"]
    assert memories[0]["id"] == coffee.record.id
    assert set(memories[0]) >= {"id", "text", "category", "tier", "updated_at", "score"}
    assert memories[0]["category"] == "food" and memories[0]["tier"] == "fresh"
    prompt = system_prompt({"memories": memories}, settings.agent)
    assert "- The user loves black coffee" in prompt


async def test_the_query_is_the_users_latest_message(service, settings, embedder) -> None:
    # The screen is looked at in parallel, so its description is not known to the search.
    await service.add("The user writes Rust code in a terminal at work", user_id=USER)
    state = {**turn("what Rust code do I write?"), "visual_context": "a terminal"}
    update, _ = await run_node(query_memory, state, NodeContext(settings, None, service))
    assert embedder.texts[-1] == "what Rust code do I write?"
    assert update["memories"][0]["text"] == "The user writes Rust code in a terminal at work"
    watch = {**turn("  what Rust code do I write?  "), "trigger": "watch"}
    await run_node(query_memory, watch, NodeContext(settings, None, service))
    assert embedder.texts[-1] == "what Rust code do I write?"


async def test_other_users_memories_never_reach_the_prompt(service, settings) -> None:
    await service.add("Jane loves black coffee", user_id="jane")
    update, _ = await run_node(
        query_memory, turn("Jane loves black coffee"), NodeContext(settings, None, service)
    )
    assert update == {"memories": []}


class SlowMemory:
    usable = True

    async def search(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(10)


class BrokenMemory:
    usable = True

    async def search(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")


async def test_memory_that_is_off_slow_or_broken_never_holds_up_the_turn(tmp_path) -> None:
    settings = memory_settings(tmp_path, memory={"search_timeout_s": 0.2})
    for memory in (None, SlowMemory(), BrokenMemory()):
        started = asyncio.get_running_loop().time()
        update, _ = await run_node(query_memory, turn("hi"), NodeContext(settings, None, memory))
        assert update == {"memories": []}
        assert asyncio.get_running_loop().time() - started < 2
