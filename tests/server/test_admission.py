"""The turn slots stop each reply at most once: a second stop (a double-clicked stop button, a
second signal) must not cancel a run again while it saves what it wrote."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server._admission import TurnSlots
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.served import service_env
from tests.support.waiting import eventually


async def test_a_reply_is_stopped_once_however_often_it_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent import Companion
    from agent.events import TextDelta, TurnFinished, TurnStarted
    from config import load_settings

    slow = Reply(words=words_of("Slowly " + "and surely " * 80), token_delay_s=0.05)
    with ScriptedOpenAI(default=slow) as model:
        for name, value in service_env(tmp_path, model.url).items():
            monkeypatch.setenv(name, value)
        companion = await Companion.create(load_settings())
        slots = TurnSlots(2, 1.0, stop_reply=companion.stop)
        finished: list[TurnFinished] = []
        written: list[str] = []
        try:

            async def turn() -> None:
                async with slots.slot("t-0123456789") as held:
                    async for event in companion.turn("t-0123456789", "go on", user_id="ada"):
                        if isinstance(event, TurnStarted):
                            slots.started(held)
                        elif isinstance(event, TextDelta):
                            written.append(event.text)
                        elif isinstance(event, TurnFinished):
                            finished.append(event)

            running = asyncio.create_task(turn())
            await eventually(lambda: len(written) >= 3, 30, "a few words of the reply")
            assert [slots.stop("t-0123456789"), slots.stop("t-0123456789")] == [True, False]
            slots.stop_all()  # the shutdown's stop, too, leaves it alone
            await asyncio.wait_for(running, 30)
            saved = await companion.threads.messages("t-0123456789")
        finally:
            await companion.aclose()
    assert finished and finished[0].stopped
    assert saved[-1]["role"] == "assistant" and saved[-1].get("stopped") is True
    assert saved[-1]["content"] == finished[0].text
