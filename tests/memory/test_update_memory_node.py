"""update_memory after the reply: one constrained model call, then Read-then-Write changes,
announced through MemoryService.changes() with origin "turn" (the chat's quiet lines)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.llm.chat import chat_models
from agent.memory.events import MemoryChanged
from agent.memory.service import MemoryService
from agent.nodes.update_memory import update_memory
from tests.memory.conftest import USER, memory_settings
from tests.support.nodes import NodeContext, run_node, turn
from tests.support.recording_memory import RecordingMemory
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.word_embedder import WordOverlapEmbedder

NAME = {"text": "The user's name is Minsu", "category": "Personal Info"}
COFFEE = {"text": "The user loves black coffee", "category": "Food"}


async def run_watching(
    memory: MemoryService, state: Any, context: NodeContext
) -> tuple[dict, list[MemoryChanged]]:
    """Run update_memory; its state update and the changes the memory announced meanwhile
    (checked to come from the turn: origin "turn")."""
    seen: list[MemoryChanged] = []

    async def watch() -> None:
        async for change in memory.changes():
            seen.append(change)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    try:
        update, streamed = await run_node(update_memory, state, context)
        await asyncio.sleep(0.1)  # the store announces a change right after writing it
    finally:
        watcher.cancel()
    assert streamed == []  # the changes reach the front ends through memory.changes() only
    assert all(change.origin == "turn" for change in seen), seen
    return update, seen


@pytest.fixture
def script() -> Iterator[ScriptedOpenAI]:
    """The remote chat model; it answers "{}" (nothing to remember) unless told otherwise."""
    with ScriptedOpenAI(model="scripted", default=Reply.of("{}")) as served:
        yield served


@pytest.fixture
async def setup(tmp_path: Path, script: ScriptedOpenAI) -> AsyncIterator[tuple]:
    settings = memory_settings(
        tmp_path / "data",
        mode="online",
        llm={"url": script.url, "model": "scripted", "max_retries": 0},
        memory={"same_fact_threshold": 0.7},
    )
    memory = MemoryService(settings, embedder=WordOverlapEmbedder())
    await memory.start()
    router = chat_models(settings)
    recording = RecordingMemory(memory)
    yield settings, memory, recording, NodeContext(settings, router, recording)
    await router.aclose()
    await memory.aclose()


async def test_new_facts_are_remembered_and_announced(setup, script: ScriptedOpenAI) -> None:
    _, memory, _, context = setup
    script.script(Reply.of_json({"facts": [NAME, COFFEE], "forget": []}))

    update, events = await run_watching(
        memory, turn("I'm Minsu, and I love black coffee", "Nice to meet you!"), context
    )

    assert update == {}
    assert [e.describe() for e in events] == [
        "remembered: The user's name is Minsu",
        "remembered: The user loves black coffee",
    ]
    assert all(isinstance(e, MemoryChanged) and e.user_id == USER for e in events)
    records = {r.text: r.category for r in await memory.list(user_id=USER)}
    assert records == {NAME["text"]: "personal info", COFFEE["text"]: "food"}
    (chat,) = [request.body for request in script.chat_requests]
    assert "response_format" in chat
    assert "I'm Minsu, and I love black coffee" in chat["messages"][1]["content"]


async def test_known_facts_change_nothing_and_changed_facts_update_in_place(
    setup, script: ScriptedOpenAI
) -> None:
    _, memory, recording, context = setup
    script.script(Reply.of_json({"facts": [NAME]}))
    await run_node(update_memory, turn("I'm Minsu"), context)
    (original,) = await memory.list(user_id=USER)

    script.script(
        Reply.of_json({"facts": [{"text": "the user's name is Minsu.", "category": "x"}]})
    )
    _, events = await run_watching(memory, turn("Yes, Minsu"), context)
    assert events == []

    script.script(
        Reply.of_json({"facts": [{"text": "The user's name is Minsu Kim", "category": "name"}]})
    )
    _, events = await run_watching(memory, turn("My full name is Minsu Kim"), context)
    assert [e.describe() for e in events] == ["updated memory: The user's name is Minsu Kim"]
    (updated,) = await memory.list(user_id=USER)
    assert updated.id == original.id and updated.text == "The user's name is Minsu Kim"
    assert recording.writes_followed_searches()
    ops = [op for op, _ in recording.calls]
    assert ops == ["search", "add", "search", "search", "update"]


async def test_the_prompt_lists_known_categories_for_reuse(setup, script) -> None:
    _, memory, _, context = setup
    await memory.add("The user plays tennis", user_id=USER, category="Sports")
    script.script(Reply.of_json({}))
    await run_node(update_memory, turn("hello"), context)
    system = script.chat_requests[0].messages[0]
    assert "Reuse one of these when one fits: sports." in system["content"]


async def test_forgets_only_when_the_user_asked(setup, script: ScriptedOpenAI) -> None:
    _, memory, recording, context = setup
    script.script(Reply.of_json({"facts": [NAME, COFFEE]}))
    await run_node(update_memory, turn("I'm Minsu and I love black coffee"), context)

    script.script(Reply.of_json({"forget": [{"about": "the user's name"}]}))
    _, events = await run_watching(memory, turn("What is my name?"), context)
    assert events == []
    assert len(await memory.list(user_id=USER)) == 2

    script.script(Reply.of_json({"forget": [{"about": "the user's name"}]}))
    _, events = await run_watching(memory, turn("Please forget my name."), context)
    assert [e.describe() for e in events] == ["forgot: The user's name is Minsu"]
    assert [r.text for r in await memory.list(user_id=USER)] == [COFFEE["text"]]
    assert recording.writes_followed_searches()


async def test_a_memory_changed_after_the_turn_wins(setup, script: ScriptedOpenAI) -> None:
    _, memory, _, context = setup
    await memory.add("The user's name is Minsu", user_id=USER)
    script.script(
        Reply.of_json({"facts": [{"text": "The user's name is Minsu Park", "category": "name"}]})
    )
    _, events = await run_watching(
        memory, turn("call me Minsu Park", at="2020-01-01T00:00:00.000Z"), context
    )
    assert events == []
    assert [r.text for r in await memory.list(user_id=USER)] == ["The user's name is Minsu"]


async def test_model_failures_are_logged_never_raised(setup, script: ScriptedOpenAI) -> None:
    _, memory, _, context = setup
    script.script(Reply.of(*words_of("this is not json")))
    assert await run_node(update_memory, turn("I'm Minsu"), context) == ({}, [])
    script.set_failure(500)
    assert await run_node(update_memory, turn("I'm Minsu"), context) == ({}, [])
    assert await memory.list(user_id=USER) == []


async def test_unprompted_turns_and_missing_memory_do_nothing(setup, script) -> None:
    settings, _, _, context = setup
    watch = {**turn("I'm Minsu"), "trigger": "watch"}
    assert await run_node(update_memory, watch, context) == ({}, [])
    no_memory = NodeContext(settings, context.router, None)
    assert await run_node(update_memory, turn("I'm Minsu"), no_memory) == ({}, [])
    assert script.requests == []


async def test_a_random_weights_model_still_ends_its_answer(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    settings = memory_settings(tmp_path / "data", local={"chat_model": str(tiny_gguf)})
    memory = MemoryService(settings, embedder=WordOverlapEmbedder())
    await memory.start()
    router = chat_models(settings)
    try:
        for text in ("My name is Minsu and I like coffee", "저는 민수이고 커피를 좋아해요"):
            update, events = await run_watching(
                memory, turn(text, "hello"), NodeContext(settings, router, memory)
            )
            assert update == {}
            assert all(isinstance(e, MemoryChanged) for e in events)
    finally:
        await router.aclose()
        await memory.aclose()


def test_the_extraction_schema_bounds_every_string_and_list() -> None:
    from agent.llm.structured import schema_for
    from agent.memory.extraction import TurnMemories

    schema = schema_for(TurnMemories).schema

    def check(node: dict) -> None:
        if node.get("type") == "string":
            assert "maxLength" in node, node
        if node.get("type") == "array":
            assert "maxItems" in node, node
            check(node["items"])
        for child in node.get("properties", {}).values():
            check(child)

    check(schema)
    assert json.dumps(schema)
