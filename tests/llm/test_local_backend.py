"""The local backend: the tiny GGUF in the real llama.cpp, in this process, off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from agent.llm.chat import chat_models
from agent.llm.errors import NoModelAvailable, StructuredOutputError
from agent.llm.local import LocalChat
from agent.llm.structured import complete_json
from agent.llm.types import ChatRequest
from agent.nodes.reason_and_plan import PlanChoice
from config import LocalSettings, load_settings
from tests.support.cli import run_python


def _local(model: Path | str, models_dir: Path) -> LocalChat:
    return LocalChat(LocalSettings(chat_model=str(model), n_ctx=1024), models_dir)


def _termmate_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("termmate-")]


async def _refusal(chat: LocalChat) -> NoModelAvailable:
    """The NoModelAvailable a first request to ``chat`` must raise (``chat`` is closed after)."""
    try:
        with pytest.raises(NoModelAvailable) as caught:
            async for _ in chat.stream(ChatRequest(messages=[{"role": "user", "content": "hi"}])):
                pass
    finally:
        await chat.aclose()
    return caught.value


async def test_local_streaming_yields_text_without_blocking_the_event_loop(
    fluent_gguf: Path, tmp_path: Path
) -> None:
    chat = _local(fluent_gguf, tmp_path / "models")
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.002)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        request = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=400)
        pieces = [piece async for piece in chat.stream(request)]
    finally:
        ended = time.perf_counter()
        ticker.cancel()
        await chat.aclose()
    assert len(pieces) > 100 and "".join(pieces).strip()
    # Loading and generating ran on the model's thread: the loop kept ticking all along.
    during = [t for t in ticks if started <= t <= ended] + [ended]
    longest_gap = max(b - a for a, b in zip([started, *during], during, strict=False))
    assert longest_gap < (ended - started) / 2, (longest_gap, ended - started)


class Mood(BaseModel):
    """A small schema with an enum, a bounded string, a choice of integers and a list."""

    mood: Literal["calm", "busy", "tired"]
    note: str = Field(max_length=40)
    level: Literal[1, 2, 3, 4, 5]
    tags: list[Literal["code", "music"]] = Field(max_length=3)


@pytest.mark.parametrize("schema", [PlanChoice, Mood], ids=["PlanChoice", "Mood"])
async def test_json_schema_output_from_the_local_model_validates(
    schema: type[BaseModel], termmate_env: dict[str, str]
) -> None:
    """Random weights, yet every answer validates: the schema constrains sampling (a grammar).

    The raw tiny model (with byte tokens) writes control characters inside JSON strings, which
    llama.cpp's grammar allows; they must not make a valid answer fail.
    """
    router = chat_models(load_settings())  # offline: the local model
    try:
        for question in ("Should you speak up?", "화면을 보고 말할까요?", "What now?"):
            messages = [{"role": "user", "content": question}]
            value, routed = await complete_json(router, messages, schema)
            assert isinstance(value, schema)
            assert routed.backend == "local" and routed.model == "tiny-chat.gguf"
    finally:
        await router.aclose()


async def test_an_answer_cut_short_is_one_clear_structured_output_error(
    termmate_env: dict[str, str],
) -> None:
    router = chat_models(load_settings())
    try:
        with pytest.raises(StructuredOutputError) as caught:
            await complete_json(
                router, [{"role": "user", "content": "hi"}], PlanChoice, max_tokens=3
            )
    finally:
        await router.aclose()
    assert "local model's answer is not valid JSON for PlanChoice" in caught.value.reason


def test_llama_cpp_is_imported_and_the_model_loaded_only_on_first_use(
    termmate_env: dict[str, str],
) -> None:
    """In a fresh process: building the Companion loads nothing; the first turn loads the model."""
    script = """
import asyncio, json, sys
from config import load_settings

async def main():
    from agent import Companion
    companion = await Companion.create(load_settings())
    seen = {"after_create": "llama_cpp" in sys.modules,
            "loaded_after_create": companion.router.local.loaded,
            "status": companion.status().service("local model").detail}
    async for event in companion.turn("t-first-use", "hello"):
        pass
    seen["after_turn"] = "llama_cpp" in sys.modules
    seen["loaded_after_turn"] = companion.router.local.loaded
    await companion.aclose()
    print(json.dumps(seen))

asyncio.run(main())
"""
    done = run_python("-c", script, env=termmate_env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "after_create": False,
        "loaded_after_create": False,
        "status": "tiny-chat.gguf, loads on first use",
        "after_turn": True,
        "loaded_after_turn": True,
    }


async def test_aclose_leaves_no_termmate_thread_behind(termmate_env: dict[str, str]) -> None:
    from agent import Companion

    before = _termmate_threads()
    companion = await Companion.create(load_settings())
    async for _ in companion.turn("t-threads", "hello"):
        pass
    assert companion.router.local.loaded
    assert len(_termmate_threads()) > len(before), "the model runs on its own termmate- thread"
    await companion.aclose()
    assert _termmate_threads() == before
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("termmate-")]


async def test_a_corrupt_gguf_gives_no_model_available_with_a_clear_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 200)
    reason = (await _refusal(_local(broken, tmp_path / "models"))).reason
    assert "local.chat_model" in reason and str(broken) in reason and "GGUF" in reason
    assert _termmate_threads() == []


async def test_a_missing_gguf_says_what_to_set(tmp_path: Path) -> None:
    reason = (await _refusal(_local(tmp_path / "nowhere.gguf", tmp_path / "models"))).reason
    assert "TERMMATE_LOCAL__CHAT_MODEL" in reason
    assert str(tmp_path / "nowhere.gguf") in reason
