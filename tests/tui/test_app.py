"""The TUI through Textual's Pilot, with the real Companion and the tiny model offline."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.cli import run_python
from tests.support.waiting import settled
from tui.app import TermmateApp
from tui.widgets import AssistantMessage, Notice, UserMessage

SIZE = (120, 40)


def _replies(app: TermmateApp) -> list[AssistantMessage]:
    return list(app.query(AssistantMessage))


async def _converse(pilot, app: TermmateApp, text: str, what: str = "the reply") -> None:
    """Type ``text``, press Enter, and wait until its reply is done (its quiet line shows the
    first token's time)."""
    for ch in text:
        await pilot.press(ch if ch != " " else "space")
    await pilot.press("enter")
    await settled(
        pilot, lambda: _replies(app) and "first token" in _replies(app)[-1].meta_text, what=what
    )


async def test_typing_streams_a_reply_into_the_chat_pane(termmate_env: dict[str, str]) -> None:
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set, what="the companion")
        await _converse(pilot, app, "hello 안녕", what="the reply to finish")
        users = [str(u.content) for u in app.query(UserMessage)]
        assert users == ["hello 안녕"]
        reply = _replies(app)[-1]
        assert reply.text  # the tiny model always says something
        assert "local" in reply.meta_text and "tiny-chat.gguf" in reply.meta_text
        assert app.query_one("#input").value == ""  # the input was cleared


async def test_a_message_sent_before_start_up_finishes_is_answered(
    termmate_env: dict[str, str],
) -> None:
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        # The user can type at once, before start-up finishes.
        await _converse(pilot, app, "early", what="the queued message to be answered")
        assert [str(u.content) for u in app.query(UserMessage)] == ["early"]


async def test_ctrl_n_starts_a_new_conversation_and_start_up_resumes_the_last(
    termmate_env: dict[str, str],
) -> None:
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        first = app.thread_id
        await _converse(pilot, app, "first conversation")
        await pilot.press("ctrl+n")
        await settled(pilot, lambda: app.thread_id != first, what="a new thread")
        assert not app.query(UserMessage)  # the pane shows the new, empty conversation
        second = app.thread_id
        await _converse(pilot, app, "second conversation")

    app = TermmateApp()  # a new process would do the same: resume the last conversation
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        assert app.thread_id == second
        assert [str(u.content) for u in app.query(UserMessage)] == ["second conversation"]


async def test_ctrl_t_lists_conversations_and_switches(termmate_env: dict[str, str]) -> None:
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        first = app.thread_id
        await _converse(pilot, app, "about cats")
        await pilot.press("ctrl+n")
        await _converse(pilot, app, "about dogs")

        await pilot.press("ctrl+t")
        await settled(pilot, lambda: app.screen.__class__.__name__ == "ThreadPicker")
        await pilot.press("down")  # newest first: the cats conversation is second
        await pilot.press("enter")
        await settled(pilot, lambda: app.thread_id == first, what="the switch")
        assert [str(u.content) for u in app.query(UserMessage)] == ["about cats"]


async def test_ctrl_o_cycles_the_mode_and_saves_it(
    termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TERMMATE_MODE")  # the mode comes from the settings file
    config = Path(termmate_env["TERMMATE_CONFIG"])
    config.write_text('mode = "online"\n')
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        await pilot.press("ctrl+o")
        await settled(pilot, lambda: str(app.companion.router.mode) == "offline")
        notices = " ".join(str(n.content) for n in app.query(Notice))
        assert "mode: offline" in notices
        assert tomllib.loads(config.read_text())["mode"] == "offline"
        assert "mode offline" in str(app.query_one("#status-text").content)
        await pilot.press("ctrl+o")
        await settled(pilot, lambda: str(app.companion.router.mode) == "auto")
    assert tomllib.loads(config.read_text())["mode"] == "auto"


async def test_keys_are_remappable_from_the_settings_file(termmate_env: dict[str, str]) -> None:
    Path(termmate_env["TERMMATE_CONFIG"]).write_text('[keys]\nnew_thread = "f2"\n')
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        first = app.thread_id
        await pilot.press("ctrl+n")  # no longer bound
        await pilot.pause(0.2)
        assert app.thread_id == first
        await pilot.press("f2")
        await settled(pilot, lambda: app.thread_id != first, what="f2 to start a new thread")


async def test_the_command_palette_offers_the_actions(termmate_env: dict[str, str]) -> None:
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"New conversation", "Switch conversation", "Cycle mode", "Stop reply"} <= titles


async def test_status_pane_shows_mode_model_and_services(termmate_env: dict[str, str]) -> None:
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        await _converse(pilot, app, "hi")
        await settled(pilot, lambda: "local model: ok" in _status_text(app))
        text = _status_text(app)
        assert "mode offline" in text
        assert "local tiny-chat.gguf" in text
        assert "remote model: off (offline mode)" in text


async def test_a_message_over_the_limit_is_refused_and_kept(
    termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_AGENT__MAX_MESSAGE_CHARS", "100")
    app = TermmateApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        long_text = "x" * 150
        app.query_one("#input").value = long_text
        await pilot.press("enter")
        await settled(pilot, lambda: bool(_toasts(app)), what="the refusal")
        [told] = _toasts(app)
        assert "150 characters; the limit is 100" in told
        assert "still in the input line" in told
        assert app.screen.query_one("Toast").has_class("-error")
        assert app.query_one("#input").value == long_text  # nothing lost
        assert not app.query(UserMessage)


def _toasts(app: TermmateApp) -> list[str]:
    """The notifications on screen, as the user reads them."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def _status_text(app: TermmateApp) -> str:
    return str(app.query_one("#status-text").render())


def test_the_first_frame_is_painted_before_heavy_libraries_load(
    termmate_env: dict[str, str],
) -> None:
    """In a fresh interpreter: at first paint, LangGraph, llama.cpp and mem0 are not loaded."""
    code = """
import asyncio, sys
from tui.app import TermmateApp

HEAVY = ("langgraph", "llama_cpp", "mem0", "qdrant_client")
seen = {}

class Probe(TermmateApp):
    def after_first_paint(self):
        seen["at_paint"] = [m for m in HEAVY if m in sys.modules]
        super().after_first_paint()

async def main():
    app = Probe()
    async with app.run_test() as pilot:
        await app.companion_ready.wait()
        seen["after_start"] = "langgraph" in sys.modules

asyncio.run(main())
print(seen)
sys.exit(0 if seen["at_paint"] == [] and seen["after_start"] else 1)
"""
    result = run_python("-c", code, env=termmate_env)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_memory_pane_and_quiet_lines_follow_memory_changes(
    termmate_env: dict[str, str], tiny_embed_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_MEMORY__ENABLED", "true")
    monkeypatch.setenv("TERMMATE_LOCAL__EMBED_MODEL", str(tiny_embed_gguf))
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        memory = app.companion.memory
        await memory.ready()
        await memory.add(
            "likes green tea", user_id=app.settings.user_id, category="preferences", origin="turn"
        )
        await settled(
            pilot,
            lambda: any("remembered: likes green tea" in str(n.content) for n in app.query(Notice)),
            what="the quiet 'remembered' line",
        )
        pane = app.query_one("#memory")
        await settled(pilot, lambda: any(r.text == "likes green tea" for r in pane.records))
        await settled(pilot, lambda: "memory: ok" in _status_text(app), what="memory status")

        # An edit by the user (pane, CLI) refreshes the pane but is not news for the chat.
        await memory.add("lives in Seoul", user_id=app.settings.user_id, category="home")
        await settled(pilot, lambda: any(r.text == "lives in Seoul" for r in pane.records))
        assert not any("Seoul" in str(n.content) for n in app.query(Notice))

        await pilot.press("f2")
        assert app.focused is app.query_one("#memory-filter")
        await pilot.press("f2")
        assert app.focused is app.query_one("#input")
