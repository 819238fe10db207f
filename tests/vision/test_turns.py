"""Sight in a turn: perceive_environment runs beside query_memory, feeds the prompt, and never
holds a turn hostage (no display, a slow VLM). Watch mode speaks up only when it should."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent import Companion
from agent.clock import utc_now_iso
from agent.context import TurnContext
from agent.events import Perceived, PerceptionFailed, TurnFinished
from agent.graph import build_graph
from agent.llm.chat import chat_models
from agent.llm.vision import SightModel, vision_models
from agent.memory.service import MemoryService
from agent.state import Message
from config import load_settings
from tests.memory.conftest import USER, memory_settings
from tests.support.pictures import quadrants, with_block
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.scripted_vlm import ScriptedVLM, description
from tests.support.waiting import eventually
from tests.support.word_embedder import WordOverlapEmbedder
from tests.support.xvfb import XvfbDisplay
from tests.vision.conftest import SCRIPTED_DESCRIPTION
from vision import Eyes

DELAY_S = 1.0


class SlowEmbedder(WordOverlapEmbedder):
    """The word-overlap test double, taking DELAY_S per call like a slow embedding server."""

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        await asyncio.sleep(DELAY_S)
        return await super().embed(texts, kind)


async def test_a_slow_vlm_and_a_slow_memory_search_cost_the_larger_not_the_sum(
    screen: XvfbDisplay, tmp_path: Path, tiny_gguf: Path
) -> None:
    with ScriptedVLM(default=description("A terminal.", delay_s=DELAY_S)) as vlm:
        settings = memory_settings(
            tmp_path / "data",
            mode="auto",
            local={"chat_model": str(tiny_gguf)},
            agent={"max_reply_tokens": 4},
            vlm={"url": vlm.url},
            vision={"timeout_s": 10},
        )
        memory = MemoryService(settings, embedder=SlowEmbedder())
        await memory.start()
        await memory.add("The user uses dark terminals", user_id=USER, category="preferences")
        router = chat_models(settings)
        vision = vision_models(settings)
        eyes = Eyes(settings.vision, SightModel(vision))
        graph = build_graph(InMemorySaver())
        context = TurnContext(settings=settings, router=router, memory=memory, eyes=eyes)
        inputs = {
            "messages": [
                Message(
                    role="user", content="the user uses which terminals?", created_at=utc_now_iso()
                )
            ],
            "user_id": USER,
            "trigger": "user",
            "look": True,
            "visual_context": None,
            "memories": [],
            "action_plan": None,
        }
        try:
            started = time.perf_counter()
            planned_at = None
            seen: dict = {}
            async for _mode, chunk in graph.astream(
                inputs,
                {"configurable": {"thread_id": "t-parallel"}},
                context=context,
                stream_mode=["updates"],
            ):
                seen.update(chunk)
                if "reason_and_plan" in chunk and planned_at is None:
                    planned_at = time.perf_counter() - started
        finally:
            await eyes.aclose()
            await vision.aclose()
            await router.aclose()
            await memory.aclose()
    assert seen["perceive_environment"]["visual_context"] == "A terminal."
    found = seen["query_memory"]["memories"]
    assert [m["text"] for m in found] == ["The user uses dark terminals"]
    assert planned_at is not None
    # Both waited DELAY_S; in parallel the plan comes after about one delay, not two.
    assert DELAY_S <= planned_at < DELAY_S * 1.6, planned_at


@pytest.fixture
def chat_and_vlm(
    termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, screen: XvfbDisplay
):
    with (
        ScriptedOpenAI(default=Reply.of("Looks", " like", " code.")) as chat,
        ScriptedVLM(default=description(SCRIPTED_DESCRIPTION)) as vlm,
    ):
        monkeypatch.setenv("TERMMATE_MODE", "online")
        monkeypatch.setenv("TERMMATE_LLM__URL", chat.url)
        monkeypatch.setenv("TERMMATE_VLM__URL", vlm.url)
        yield chat, vlm


async def test_the_screen_description_goes_into_the_prompt_only_while_the_eyes_are_on(
    chat_and_vlm: tuple[ScriptedOpenAI, ScriptedVLM], screen: XvfbDisplay
) -> None:
    chat, vlm = chat_and_vlm
    screen.show(quadrants())
    companion = await Companion.create(load_settings())
    try:
        assert companion.status().service("eyes").state == "off"
        events = [e async for e in companion.turn("t-eyes", "hello")]
        assert not any(isinstance(e, Perceived) for e in events)
        assert vlm.chat_requests == []  # eyes off: nothing captured, nothing sent
        assert SCRIPTED_DESCRIPTION not in chat.chat_requests[-1].messages[0]["content"]

        companion.eyes.turn_on()
        assert companion.status().service("eyes").state == "active"
        events = [e async for e in companion.turn("t-eyes", "what do you see?")]
        perceived = [e for e in events if isinstance(e, Perceived)]
        assert perceived and perceived[0].description == SCRIPTED_DESCRIPTION
        assert SCRIPTED_DESCRIPTION in chat.chat_requests[-1].messages[0]["content"]
        assert vlm.images()[-1].open().size == (1280, 720)

        companion.eyes.turn_off()
        assert companion.status().service("eyes").state == "off"
    finally:
        await companion.aclose()


async def test_with_no_display_the_turn_is_answered_and_the_status_says_why(
    termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, no_display: None
) -> None:
    with ScriptedVLM() as vlm:
        monkeypatch.setenv("TERMMATE_VLM__URL", vlm.url)
        monkeypatch.setenv("TERMMATE_MODE", "auto")
        companion = await Companion.create(load_settings())
        try:
            events = [e async for e in companion.turn("t-blind", "hello", look=True)]
            failed = [e for e in events if isinstance(e, PerceptionFailed)]
            assert failed and "no display" in failed[0].status
            assert isinstance(events[-1], TurnFinished) and events[-1].text
            companion.eyes.turn_on()
            [e async for e in companion.turn("t-blind", "again")]
            eyes = companion.status().service("eyes")
            assert eyes.state == "error" and "no display" in (eyes.detail or "")
        finally:
            await companion.aclose()


async def test_turning_the_eyes_off_during_a_turns_look_answers_without_sight(
    chat_and_vlm: tuple[ScriptedOpenAI, ScriptedVLM], screen: XvfbDisplay
) -> None:
    """Ctrl+E mid-look calls the look off; the reply is still written, not stopped."""
    _, vlm = chat_and_vlm
    vlm.set_default(description("Too late to matter.", delay_s=3.0))
    screen.show(quadrants())
    companion = await Companion.create(load_settings())
    try:
        companion.eyes.turn_on()
        events: list[object] = []

        async def converse() -> None:
            async for event in companion.turn("t-off", "what do you see?"):
                events.append(event)

        turn = asyncio.create_task(converse())
        await eventually(lambda: vlm.chat_requests, what="the turn's look to ask the model")
        companion.eyes.turn_off()
        await asyncio.wait_for(turn, 30)

        finished = events[-1]
        assert isinstance(finished, TurnFinished) and not finished.stopped
        assert finished.text == "Looks like code."
        [failed] = [e for e in events if isinstance(e, PerceptionFailed)]
        assert "the eyes were turned off during the look" in failed.status
        assert companion.status().service("eyes").state == "off"
    finally:
        await companion.aclose()


async def test_watch_mode_speaks_on_a_change_and_stays_silent_when_the_plan_says_so(
    chat_and_vlm: tuple[ScriptedOpenAI, ScriptedVLM],
    screen: XvfbDisplay,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.watch import watch

    chat, _ = chat_and_vlm
    monkeypatch.setenv("TERMMATE_VISION__WATCH_INTERVAL_S", "1")
    monkeypatch.setenv("TERMMATE_VISION__WATCH_MIN_GAP_S", "0")
    silence = Reply.of('{"action": "silence", "reason": "nothing new"}')
    respond = Reply.of('{"action": "respond", "reason": "a dialog opened"}')
    remark = Reply.of("A", " dialog", " popped", " up.")
    chat.script(silence, respond, remark)
    companion = await Companion.create(load_settings())
    companion.eyes.turn_on()
    screen.show(quadrants())
    finished: list[TurnFinished] = []

    async def follow() -> None:
        async for event in watch(companion, lambda: "t-watch"):
            if isinstance(event, TurnFinished):
                finished.append(event)
                if len(finished) == 2:
                    return

    task = asyncio.create_task(follow())
    try:
        await asyncio.sleep(1.5)  # the first look only sets the baseline
        assert finished == []
        screen.show(with_block(quadrants(), (200, 200, 900, 500), (255, 255, 255)))
        await eventually(lambda: len(finished) >= 1)
        assert finished[0].action == "silence" and finished[0].text == ""
        screen.show(with_block(quadrants(), (300, 600, 1500, 1000), (0, 0, 0)))
        await asyncio.wait_for(task, 20)
        assert finished[1].action == "respond" and finished[1].text == "A dialog popped up."
        # The unprompted turn decided with a JSON schema, then spoke; no user message was made.
        messages = await companion.threads.messages("t-watch")
        assert [m["role"] for m in messages] == ["assistant"]
    finally:
        task.cancel()
        await companion.aclose()


async def test_what_was_on_screen_is_not_kept_in_the_conversation_store(
    chat_and_vlm: tuple[ScriptedOpenAI, ScriptedVLM], screen: XvfbDisplay
) -> None:
    screen.show(quadrants())
    settings = load_settings()
    companion = await Companion.create(settings)
    try:
        events = [e async for e in companion.turn("t-private", "look", look=True)]
        assert any(isinstance(e, Perceived) for e in events)
    finally:
        await companion.aclose()
    stored = b"".join(p.read_bytes() for p in settings.data_dir.glob("threads.sqlite*"))
    assert stored and SCRIPTED_DESCRIPTION.encode() not in stored


async def test_turning_the_eyes_off_mid_look_captures_and_remembers_nothing(
    screen: XvfbDisplay, tmp_path: Path
) -> None:
    from vision import DescriptionFailed

    screen.show(quadrants())
    with ScriptedVLM(default=description("seen", delay_s=0.5)) as vlm:
        settings = memory_settings(tmp_path / "data", mode="online", vlm={"url": vlm.url})
        vision = vision_models(settings)
        eyes = Eyes(settings.vision, SightModel(vision))
        try:
            look = asyncio.create_task(eyes.look())
            await asyncio.sleep(0)  # the look is grabbing the screen now
            eyes.forget()
            with pytest.raises(DescriptionFailed, match="turned off"):
                await look
            await asyncio.sleep(0.8)
            assert vlm.chat_requests == []
            assert eyes._described is None
        finally:
            await eyes.aclose()
            await vision.aclose()
