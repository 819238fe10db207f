"""Turns on a thread: one at a time across processes, the user before watch mode, a mode
switch mid-reply, and memory updates that never hold up the next message."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from agent import Companion
from agent.events import ModelRouted, TextDelta, TurnFailed, TurnFinished
from config import Mode, load_settings
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.stores import Store
from tests.support.waiting import eventually


async def _finish(companion: Companion, thread: str, text: str | None, **options) -> list:
    return [event async for event in companion.turn(thread, text, **options)]


@pytest.fixture
def online(scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch) -> ScriptedOpenAI:
    monkeypatch.setenv("TERMMATE_MODE", "auto")
    monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
    return scripted


async def test_two_processes_on_one_thread_keep_both_turns(
    backend: Store, online: ScriptedOpenAI
) -> None:
    """A TUI and `ask --thread` on the same conversation (or two servers on one database):
    neither overwrites the other."""
    online.set_default(Reply.of("slow", " answer", token_delay_s=0.1))
    tui, ask = await Companion.create(load_settings()), await Companion.create(load_settings())
    try:
        await asyncio.gather(
            _finish(tui, "t-shared", "from the TUI"), _finish(ask, "t-shared", "from ask")
        )
        messages = await tui.threads.messages("t-shared")
    finally:
        await tui.aclose()
        await ask.aclose()
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert {m["content"] for m in messages if m["role"] == "user"} == {
        "from the TUI",
        "from ask",
    }


async def test_a_watch_turn_never_waits_behind_a_running_turn(online: ScriptedOpenAI) -> None:
    online.set_default(Reply.of("a", " reply", token_delay_s=0.2))
    companion = await Companion.create(load_settings())
    try:
        user = asyncio.create_task(_finish(companion, "t-busy", "hello"))
        await eventually(lambda: online.chat_requests)
        started = time.perf_counter()
        unprompted = await _finish(companion, "t-busy", None, trigger="watch")
        assert unprompted == [] and time.perf_counter() - started < 0.1
        await user
    finally:
        await companion.aclose()


async def test_switching_to_offline_mid_reply_finishes_the_reply_locally(
    online: ScriptedOpenAI,
) -> None:
    online.set_default(Reply.of(*[f" w{i}" for i in range(40)], token_delay_s=0.05))
    companion = await Companion.create(load_settings())
    events = []
    try:
        async for event in companion.turn("t-switch", "tell me more"):
            events.append(event)
            if isinstance(event, TextDelta) and len(events) == 6:
                await companion.set_mode(Mode.OFFLINE)
    finally:
        await companion.aclose()
    assert not any(isinstance(e, TurnFailed) for e in events)
    routes = [e for e in events if isinstance(e, ModelRouted)]
    assert [r.backend for r in routes] == ["remote", "local"] and routes[1].restarted
    assert "offline" in (routes[1].fallback_reason or "")
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.backend == "local"


async def test_the_next_message_does_not_wait_for_the_memory_update(
    online: ScriptedOpenAI, tiny_embed_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_MEMORY__ENABLED", "true")
    monkeypatch.setenv("TERMMATE_LOCAL__EMBED_MODEL", str(tiny_embed_gguf))
    slow_extraction = Reply.of('{"facts": [], "forget": []}', first_token_delay_s=3.0)
    online.script(Reply.of("Nice", " to", " meet", " you."), slow_extraction)
    online.set_default(Reply.of("Second", " reply."))
    companion = await Companion.create(load_settings())
    try:
        await companion.memory.ready()
        await _finish(companion, "t-mem", "My name is Minsu and I like tea.")
        started = time.perf_counter()
        second = await _finish(companion, "t-mem", "What's new?")
        elapsed = time.perf_counter() - started
        assert isinstance(second[-1], TurnFinished) and second[-1].text == "Second reply."
        assert elapsed < 2.0, elapsed  # the 3 s extraction runs beside it, not before it
        # ...and it did run: the extraction request reached the model.
        await eventually(lambda: len(online.chat_requests) >= 3)
        assert online.chat_requests[1].response_format is not None
    finally:
        await companion.aclose()


async def test_a_thread_lock_lives_only_while_a_turn_holds_or_waits_for_it(
    tmp_path: Path,
) -> None:
    """A service sees conversation after conversation: their locks must not pile up."""
    from agent.turn_locks import FlockTurnLock, TurnLocks

    locks = TurnLocks(lambda thread_id: FlockTurnLock(tmp_path / f"{thread_id}.lock"))
    order: list[str] = []

    async def turn(thread_id: str, name: str) -> None:
        held = await locks.acquire(thread_id)

        async def work() -> None:
            order.append(f"{name} starts")
            await asyncio.sleep(0.01)
            order.append(f"{name} ends")

        await held.run(work())

    await asyncio.gather(*(turn(f"t-{n}", f"turn {n}") for n in range(50)))
    await asyncio.gather(turn("t-same", "first"), turn("t-same", "second"))
    held = await locks.acquire("t-same")
    waiter = asyncio.create_task(locks.acquire("t-same"))
    await eventually(lambda: locks.busy("t-same") and not waiter.done(), 5)  # it waits
    waiter.cancel()  # called off while it waits: nothing of it may stay either
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    assert waiter.cancelled()
    await held.run(asyncio.sleep(0))
    await locks.aclose()
    assert order[-4:] == ["first starts", "first ends", "second starts", "second ends"]
    assert locks.threads == 0
