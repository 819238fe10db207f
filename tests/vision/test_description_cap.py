"""A screen description longer than vision.max_description_chars is cut before it enters the
prompt (issue 9, item 17): a VLM that ignores max_tokens must not flood the turn."""

from __future__ import annotations

import pytest

from agent import Companion
from agent.events import Perceived
from config import VisionSettings, load_settings
from tests.support.pictures import quadrants
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.scripted_vlm import ScriptedVLM, description
from tests.support.xvfb import XvfbDisplay
from vision.describe import shorten

SCREEN_HEADER = "What is on the user's screen right now:\n"
# About 50,000 characters of sentences, as a VLM that ignores its token limit might write.
RAMBLING = " ".join(f"Line {n} of the log scrolls past in the terminal." for n in range(1000))


def _screen_part(system_prompt: str) -> str:
    assert SCREEN_HEADER in system_prompt, system_prompt[:300]
    return system_prompt.split(SCREEN_HEADER, 1)[1]


@pytest.mark.parametrize("limit", [None, 300], ids=["default", "configured"])
async def test_a_rambling_description_is_cut_to_the_limit_before_the_prompt(
    termmate_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    screen: XvfbDisplay,
    limit: int | None,
) -> None:
    assert len(RAMBLING) > 49_000
    if limit is not None:
        monkeypatch.setenv("TERMMATE_VISION__MAX_DESCRIPTION_CHARS", str(limit))
    expected_limit = limit or VisionSettings().max_description_chars
    screen.show(quadrants())
    with (
        ScriptedOpenAI(default=Reply.of("I", " see", " a", " log.")) as chat,
        ScriptedVLM(default=description(RAMBLING)) as vlm,
    ):
        monkeypatch.setenv("TERMMATE_MODE", "online")
        monkeypatch.setenv("TERMMATE_LLM__URL", chat.url)
        monkeypatch.setenv("TERMMATE_VLM__URL", vlm.url)
        companion = await Companion.create(load_settings())
        try:
            events = [e async for e in companion.turn("t-ramble", "what is on screen?", look=True)]
        finally:
            await companion.aclose()
        assert vlm.chat_requests, "the VLM was asked"
        [perceived] = [e for e in events if isinstance(e, Perceived)]
        carried = _screen_part(chat.chat_requests[-1].messages[0]["content"])

    assert carried == perceived.description
    assert len(carried) <= expected_limit
    assert len(carried) > expected_limit * 3 // 4  # cut near the limit, not far before it
    assert carried.endswith("…")
    assert RAMBLING.startswith(carried.removesuffix("…"))


def test_shorten_cuts_after_a_whole_word_and_leaves_short_text_alone() -> None:
    text = "The editor shows main.py with a red underline under an unknown name."
    assert shorten(text, len(text)) == text
    cut = shorten(text, 40)
    assert cut == "The editor shows main.py with a red…"
    assert len(cut) <= 40
    # One long word has no place to cut but the limit itself.
    assert shorten("x" * 500, 100) == "x" * 99 + "…"
