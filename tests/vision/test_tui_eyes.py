"""The eyes indicator in the TUI shows exactly while screen capture is on."""

from __future__ import annotations

import pytest

from tests.support.pictures import quadrants
from tests.support.scripted_vlm import ScriptedVLM
from tests.support.waiting import settled
from tests.support.xvfb import XvfbDisplay
from tui.app import ChatInput, TermmateApp
from tui.widgets import AssistantMessage


async def test_ctrl_e_toggles_capture_and_the_indicator_follows(
    termmate_env: dict[str, str],
    screen: XvfbDisplay,
    scripted_vlm: ScriptedVLM,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERMMATE_MODE", "auto")
    monkeypatch.setenv("TERMMATE_VLM__URL", scripted_vlm.url)
    screen.show(quadrants())
    app = TermmateApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        field = app.query_one(ChatInput)
        status = app.query_one("#status-text")

        def indicator_on() -> bool:
            return field.has_class("-eyes") and "EYES ON" in str(field.border_title)

        assert not indicator_on() and "eyes: off" in str(status.render())
        await pilot.press("ctrl+e")
        await settled(pilot, indicator_on, what="the eyes indicator")
        assert app.companion.eyes.on
        assert "eyes: active (ON, capturing the screen" in str(status.render())

        await pilot.press("l")  # the first keystroke glances at the screen already
        await settled(pilot, lambda: len(scripted_vlm.images()) == 1, what="a glance")
        for ch in "ook":
            await pilot.press(ch)
        await pilot.press("enter")
        await settled(pilot, lambda: len(scripted_vlm.images()) == 1, what="a capture")
        [reply] = app.query(AssistantMessage)
        await settled(pilot, lambda: "first token" in reply.meta_text, what="the reply")
        assert len(scripted_vlm.images()) == 1, "the turn used what the glance saw"

        await pilot.press("ctrl+e")
        await settled(pilot, lambda: not indicator_on(), what="the indicator to go")
        assert not app.companion.eyes.on
        assert field.border_title is None

        await pilot.press("ctrl+w")  # watch mode turns the eyes on, with its own indicator
        await settled(pilot, lambda: "WATCHING" in str(field.border_title))
        assert field.has_class("-eyes") and app.companion.eyes.on
        await pilot.press("ctrl+e")  # eyes off stops watching too
        await settled(pilot, lambda: field.border_title is None)
        assert app._watching is None
