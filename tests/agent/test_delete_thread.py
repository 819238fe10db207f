"""Deleting a conversation never pulls it from under a turn, in this process or in another
sharing the store (two servers on one database): the delete waits a moment, then declines."""

from __future__ import annotations

import asyncio

import pytest

from agent import Companion
from agent.events import TextDelta
from config import load_settings
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.stores import Store
from tests.support.waiting import eventually


async def test_a_conversation_is_deleted_only_when_no_turn_runs_on_it_anywhere(
    backend: Store,
    scripted: ScriptedOpenAI,
    termmate_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERMMATE_MODE", "online")
    monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
    answering = await Companion.create(load_settings())
    deleting = await Companion.create(load_settings())  # another process, say
    try:
        async for _ in answering.turn("t-del", "first"):
            pass
        scripted.set_default(Reply.of("slow", " words", " here", token_delay_s=0.4))
        events: list[object] = []

        async def second_turn() -> None:
            async for event in answering.turn("t-del", "second"):
                events.append(event)

        turn = asyncio.create_task(second_turn())
        await eventually(lambda: any(isinstance(e, TextDelta) for e in events), timeout_s=10)
        assert await answering.delete_thread("t-del") is False, "its own turn runs there"
        assert await deleting.delete_thread("t-del", wait_s=0.2) is False, "a turn elsewhere"
        await turn
        assert len(await deleting.threads.messages("t-del")) == 4
        assert await deleting.delete_thread("t-del") is True
        assert await answering.threads.messages("t-del") == []
        assert await answering.threads.get("t-del", user_id=answering.settings.user_id) is None
    finally:
        await answering.aclose()
        await deleting.aclose()
