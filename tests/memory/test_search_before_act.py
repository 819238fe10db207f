"""Search-Before-Act in the real graph: query_memory runs before every reason_and_plan, and
update_memory after the reply. (Passes once agent/graph.py and TurnContext are wired.)"""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agent.clock import utc_now_iso
from agent.context import TurnContext
from agent.graph import build_graph
from agent.llm.router import ModelRouter
from agent.memory.service import MemoryService
from agent.state import Message
from tests.memory.conftest import USER, memory_settings
from tests.memory.recording import RecordingMemory
from tests.memory.word_embedder import WordOverlapEmbedder


def test_the_graph_searches_memory_before_reasoning_and_updates_it_after_the_reply() -> None:
    edges = {(e.source, e.target) for e in build_graph(InMemorySaver()).get_graph().edges}
    assert ("__start__", "query_memory") in edges
    assert ("query_memory", "reason_and_plan") in edges
    assert ("__start__", "reason_and_plan") not in edges  # it would not wait for the search
    assert ("generate_response", "update_memory") in edges
    assert ("update_memory", "__end__") in edges


async def test_every_turn_searches_before_it_reasons(tmp_path: Path, tiny_gguf: Path) -> None:
    settings = memory_settings(
        tmp_path / "data",
        local={"chat_model": str(tiny_gguf)},
        agent={"max_reply_tokens": 8},
    )
    memory = MemoryService(settings, embedder=WordOverlapEmbedder())
    await memory.start()
    await memory.add("The user's name is Minsu", user_id=USER, category="name")
    recording = RecordingMemory(memory)
    router = ModelRouter(settings)
    graph = build_graph(InMemorySaver())
    context = TurnContext(settings=settings, router=router, memory=recording)
    config = {"configurable": {"thread_id": "t-search-first"}}
    try:
        for text in ("What is the user's name?", "And what is my name again?"):
            searches_before = sum(1 for op, _ in recording.calls if op == "search")
            order: list[str] = []
            found: list[dict] = []
            inputs = {
                "messages": [Message(role="user", content=text, created_at=utc_now_iso())],
                "user_id": USER,
                "trigger": "user",
                "visual_context": None,
                "memories": [],
                "action_plan": None,
            }
            async for mode, chunk in graph.astream(
                inputs, config, context=context, stream_mode=["updates", "custom"]
            ):
                if mode == "updates":
                    order += list(chunk)
                    found += (chunk.get("query_memory") or {}).get("memories", [])
            assert order.index("query_memory") < order.index("reason_and_plan")
            assert order.index("generate_response") < order.index("update_memory")
            assert sum(1 for op, _ in recording.calls if op == "search") > searches_before
            assert "The user's name is Minsu" in [m["text"] for m in found]
            state = (await graph.aget_state(config)).values
            assert "memories" not in state  # never checkpointed (see GraphState.memories)
    finally:
        await router.aclose()
        await memory.aclose()
