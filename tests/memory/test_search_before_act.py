"""Search-Before-Act in the real graph: every turn searches memory before it reasons, what the
search found is in the prompt the model receives, and a slow search is waited for (within
memory.search_timeout_s), not raced past."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.clock import utc_now_iso
from agent.context import TurnContext
from agent.events import MemorySearched
from agent.graph import build_graph
from agent.llm.chat import chat_models
from agent.memory.service import MemoryService
from agent.state import Message
from tests.memory.conftest import USER, memory_settings
from tests.support.recording_memory import RecordingMemory
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.word_embedder import WordOverlapEmbedder

NAME = "The user's name is Minsu"
SLOW_S = 1.0


class SlowQueryEmbedder(WordOverlapEmbedder):
    """Test double: embeds like WordOverlapEmbedder; a query takes ``query_delay_s`` (a slow
    embedding server), so the memory search is the slow branch of the turn."""

    query_delay_s = 0.0

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        if kind == "query":
            await asyncio.sleep(self.query_delay_s)
        return await super().embed(texts, kind)


@dataclass
class Turn:
    """What one graph run showed: the nodes in the order they finished, when the plan came,
    the memory search's outcome, and the reply's request to the model."""

    order: list[str] = field(default_factory=list)
    planned_after_s: float | None = None
    searched: MemorySearched | None = None
    prompt: str = ""


@dataclass
class Rig:
    graph: Any
    context: TurnContext
    memory: RecordingMemory
    embedder: SlowQueryEmbedder
    chat: ScriptedOpenAI

    async def turn(self, text: str, thread_id: str = "t-search-first") -> Turn:
        seen = Turn()
        inputs = {
            "messages": [Message(role="user", content=text, created_at=utc_now_iso())],
            "user_id": USER,
            "trigger": "user",
            "visual_context": None,
            "memories": [],
            "action_plan": None,
        }
        config = {"configurable": {"thread_id": thread_id}}
        asked = len(self.chat.chat_requests)
        started = time.perf_counter()
        async for mode, chunk in self.graph.astream(
            inputs, config, context=self.context, stream_mode=["updates", "custom"]
        ):
            if mode == "custom" and isinstance(chunk, MemorySearched):
                seen.searched = chunk
            elif mode == "updates":
                seen.order += list(chunk)
                if "reason_and_plan" in chunk and seen.planned_after_s is None:
                    seen.planned_after_s = time.perf_counter() - started
        replies = [r for r in self.chat.chat_requests[asked:] if r.response_format is None]
        seen.prompt = "\n".join(m["content"] for m in replies[0].messages)
        return seen


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The real graph with a scripted remote chat model and a real store holding NAME."""
    with ScriptedOpenAI(model="scripted", default=Reply.of("{}")) as chat:
        settings = memory_settings(
            tmp_path / "data",
            mode="online",
            llm={"url": chat.url, "model": "scripted", "max_retries": 0},
            memory={"search_timeout_s": 10.0},
        )
        embedder = SlowQueryEmbedder()
        memory = MemoryService(settings, embedder=embedder)
        await memory.start()
        await memory.add(NAME, user_id=USER, category="name")
        recording = RecordingMemory(memory)
        models = chat_models(settings)
        context = TurnContext(settings=settings, router=models, memory=recording)
        try:
            yield Rig(build_graph(InMemorySaver()), context, recording, embedder, chat)
        finally:
            await models.aclose()
            await memory.aclose()


async def test_every_turn_searches_memory_first_and_the_model_sees_what_it_found(
    rig: Rig,
) -> None:
    for text in ("What is my name?", "And what is my name again?"):
        searches_before = sum(1 for op, _ in rig.memory.calls if op == "search")
        turn = await rig.turn(text)

        assert turn.order.index("query_memory") < turn.order.index("reason_and_plan")
        assert turn.order.index("generate_response") < turn.order.index("update_memory")
        assert sum(1 for op, _ in rig.memory.calls if op == "search") == searches_before + 1
        assert turn.searched is not None and turn.searched.outcome == "searched"
        assert f"- {NAME}" in turn.prompt  # the memory reached the model with the question
        assert text in turn.prompt
    state = (await rig.graph.aget_state({"configurable": {"thread_id": "t-search-first"}})).values
    assert "memories" not in state  # never checkpointed (see GraphState.memories)


async def test_a_slow_search_is_waited_for_and_its_memory_still_reaches_the_model(
    rig: Rig,
) -> None:
    rig.embedder.query_delay_s = SLOW_S
    turn = await rig.turn("What is my name?", thread_id="t-slow")

    assert turn.planned_after_s is not None and turn.planned_after_s >= SLOW_S
    assert turn.searched is not None and turn.searched.outcome == "searched"
    assert turn.searched.elapsed_ms >= SLOW_S * 1000
    assert f"- {NAME}" in turn.prompt


async def test_a_search_slower_than_the_timeout_is_given_up_and_the_turn_is_answered(
    rig: Rig,
) -> None:
    settings = rig.context.settings
    memory = settings.memory.model_copy(update={"search_timeout_s": 0.3})
    rig.context = replace(rig.context, settings=settings.model_copy(update={"memory": memory}))
    rig.embedder.query_delay_s = SLOW_S
    turn = await rig.turn("What is my name?", thread_id="t-too-slow")

    assert turn.searched is not None and turn.searched.outcome == "failed"
    assert "took over 0.3 s" in (turn.searched.reason or "")
    assert turn.planned_after_s is not None and turn.planned_after_s < SLOW_S
    assert NAME not in turn.prompt and "What is my name?" in turn.prompt
