"""Stopping a reply (Esc, a front end's stop button, a second stop from another connection):
it stops once, and what was written is saved, marked stopped."""

from __future__ import annotations

import asyncio

import pytest

from agent import Companion
from agent.events import TextDelta, TurnFinished
from config import load_settings
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.waiting import eventually


async def test_stopping_twice_stops_once_and_saves_the_partial_reply(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_MODE", "online")
    monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
    scripted.set_default(Reply.of("one", " two", " three", " four", " five", token_delay_s=0.3))
    companion = await Companion.create(load_settings())
    events: list[object] = []

    async def listen() -> None:
        async for event in companion.turn("t-stop", "count for me"):
            events.append(event)

    try:
        turn = asyncio.create_task(listen())
        await eventually(lambda: any(isinstance(e, TextDelta) for e in events), timeout_s=10)
        assert companion.stop("t-stop") is True
        assert companion.stop("t-stop") is False, "already stopping: nothing more to stop"
        await asyncio.wait_for(turn, 10)
        finished = events[-1]
        assert isinstance(finished, TurnFinished) and finished.stopped
        assert finished.text.startswith("one")
        messages = await companion.threads.messages("t-stop")
    finally:
        await companion.aclose()
    assert messages[-1]["content"] == finished.text
    assert messages[-1].get("stopped") is True


async def test_a_stop_while_the_finished_reply_is_being_saved_still_ends_the_turn(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop button pressed just as the last word arrived: the reply is complete, so it is
    kept whole and the turn ends as finished (it must never leave its caller waiting)."""
    monkeypatch.setenv("TERMMATE_MODE", "online")
    monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
    scripted.set_default(Reply.of("all", " done."))
    companion = await Companion.create(load_settings())
    saving, go_on = asyncio.Event(), asyncio.Event()
    finish_turn = companion.threads.finish_turn

    async def slow_finish_turn(thread_id: str) -> None:  # the database is slow to answer
        saving.set()
        await go_on.wait()
        await finish_turn(thread_id)

    monkeypatch.setattr(companion.threads, "finish_turn", slow_finish_turn)
    events: list[object] = []

    async def listen() -> None:
        async for event in companion.turn("t-saving", "are you done?"):
            events.append(event)

    try:
        turn = asyncio.create_task(listen())
        await asyncio.wait_for(saving.wait(), 10)
        companion.stop("t-saving")
        go_on.set()
        await asyncio.wait_for(turn, 10)
        finished = events[-1]
        assert isinstance(finished, TurnFinished) and not finished.stopped
        assert finished.text == "all done."
        messages = await companion.threads.messages("t-saving")
        [info] = await companion.threads.list(companion.settings.user_id)
    finally:
        await companion.aclose()
    assert messages[-1]["content"] == "all done." and not messages[-1].get("stopped")
    assert info.turns == 1
