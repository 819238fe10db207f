"""The termmate TUI: chat and status panes, an input line, and a Companion run in workers.

The app paints first and loads the rest afterwards: settings, then the agent (LangGraph), then
the last conversation. Everything the user can do is a binding with an id (remappable through
``[keys]`` in the settings) and a command in the palette (Ctrl+P).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input
from textual.worker import Worker

from agent.threads import new_thread_id

from . import _exit
from ._app_signals import handle_stop_signals
from ._boot import BootFailure, load_app_settings, start_companion
from ._listening import Listening
from ._render import conversation_widgets, show_event, show_unprompted, show_update
from .widgets import AssistantMessage, ChatInput, ChatPane, Notice, StatusPane, UserMessage

__all__ = ["ChatInput", "TermmateApp", "run_tui"]

log = logging.getLogger(__name__)


class TermmateApp(App[int]):
    """The companion in a terminal."""

    TITLE = "termmate"
    CSS = """
    #main { height: 1fr; }
    #side { width: 48; height: 1fr; border-left: vkey $foreground 20%; }
    """
    BINDINGS = [
        Binding("enter", "send", "Send", id="send"),
        Binding("escape", "stop", "Stop", id="stop"),
        Binding("ctrl+n", "new_thread", "New", id="new_thread", priority=True),
        Binding("ctrl+t", "threads", "Threads", id="threads", priority=True),
        Binding("ctrl+o", "cycle_mode", "Mode", id="cycle_mode", priority=True),
        Binding("ctrl+e", "eyes", "Eyes", id="eyes", priority=True),
        Binding("ctrl+w", "watch", "Watch", id="watch", priority=True),
        Binding("f2", "memory", "Memory", id="memory", priority=True),
        Binding("f4,ctrl+m", "mute", "Mute", id="mute", priority=True),
        Binding("f5", "listen", "Talk", id="listen", priority=True),
        Binding("f6", "hands_free", "Hands-free", id="hands_free", priority=True),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(
        self, config_file: Path | None = None, overrides: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self._config_file = config_file
        self._overrides = overrides or {}
        self.settings: Any = None
        self.companion: Any = None
        self.thread_id: str | None = None
        self.companion_ready = asyncio.Event()
        self._turns: list[Worker[None]] = []
        self._companion_closed = False
        self._watching: Worker[None] | None = None
        self._boot_error: str | None = None
        # Messages sent before the companion was ready: they stay on screen, above whatever the
        # conversation that then opens shows, and are answered there.
        self._queued: list[Widget] = []
        self._stop_signal: int | None = None
        self.listening = Listening(self)
        """Push-to-talk and hands-free (tui/_listening.py)."""

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ChatPane(id="chat")
            with Vertical(id="side"):
                yield StatusPane()
        yield ChatInput(placeholder="Say something… (Enter to send)", id="input")
        yield Footer()

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    @property
    def status_pane(self) -> StatusPane:
        return self.query_one(StatusPane)

    def on_mount(self) -> None:
        self.query_one(ChatInput).focus()
        handle_stop_signals(asyncio.get_running_loop(), self._on_stop_signal)
        self.call_after_refresh(self.after_first_paint)

    def after_first_paint(self) -> None:
        """Runs once the first frame is on screen: now load the heavy parts."""
        self._boot()

    # -- start-up -----------------------------------------------------------------------------

    @work(exclusive=True, group="boot")
    async def _boot(self) -> None:
        settings = await load_app_settings(self._config_file, self._overrides)
        if isinstance(settings, BootFailure):
            await self._fail_start(settings)
            return
        self.settings = settings
        self.set_keymap(settings.keys.keymap())
        for note in settings.deprecated:
            self.notify(note, title="settings", severity="warning", timeout=20)
        companion = await start_companion(settings)
        if isinstance(companion, BootFailure):
            await self._fail_start(companion)
            return
        self.companion = companion
        self.status_pane.show_status(self.companion.status())
        if self.companion.memory is not None:
            from .widgets.memory import MemoryPane

            await self.query_one("#side").mount(
                MemoryPane(self.companion.memory, self.settings.user_id)
            )
        self._watch_updates()
        self._show_eyes_indicator()
        self.run_worker(self.companion.voice.start(), group="voice", exit_on_error=False)
        last = await self.companion.threads.last(self.settings.user_id)
        if not (last and await self._open_thread(last.thread_id)):
            await self._open_thread(new_thread_id())
        self._queued.clear()
        self.companion_ready.set()
        await self.companion.check_services()
        self.status_pane.show_status(self.companion.status())

    async def _fail_start(self, failure: BootFailure) -> None:
        if failure.exit_code is not None:
            self.exit(failure.exit_code, return_code=failure.exit_code, message=failure.message)
            return
        self._boot_error = failure.message
        await self.chat.add(Notice(failure.message, error=True))
        self.companion_ready.set()  # messages waiting for the start now fail with the reason

    @work(group="updates")
    async def _watch_updates(self) -> None:
        async for update in self.companion.updates():
            self.listening.on_update(update)
            await show_update(update, self.chat, self.status_pane)

    async def _open_thread(self, thread_id: str) -> bool:
        """Show the conversation ``thread_id``; False (with a notice saying why) when its saved
        state cannot be read, and the chat is left as it was."""
        from agent.errors import CorruptData

        try:
            messages = await self.companion.threads.messages(thread_id)
        except CorruptData as exc:
            log.warning("%s", exc.reason)
            await self.chat.add(Notice(exc.reason, error=True))
            return False
        self.thread_id = thread_id
        chat = self.chat
        # Messages typed while starting stay where they are; the conversation goes above them.
        queued = [widget for widget in self._queued if widget.is_attached]
        await chat.clear(keep=queued)
        widgets = conversation_widgets(thread_id, messages)
        await chat.mount_all(widgets, before=queued[0] if queued else None)
        self.sub_title = thread_id
        chat.scroll_end(animate=False)
        return True

    def _can_act(self) -> bool:
        """Start-up finished and the companion is there (it is not after a failed start)."""
        return self.companion_ready.is_set() and self._boot_error is None

    # -- sending and stopping ----------------------------------------------------------------

    async def action_send(self) -> None:
        await self.send_input()

    async def send_input(self, *, language: str | None = None) -> None:
        """Send what is in the input line (``language``: the one it was spoken in)."""
        field = self.query_one(ChatInput)
        text = field.value.strip()
        if not text:
            return
        if self.settings is not None and len(text) > self.settings.agent.max_message_chars:
            limit = self.settings.agent.max_message_chars
            self.notify(
                f"That message is {len(text):,} characters; the limit is {limit:,}. "
                "It is still in the input line.",
                severity="error",
            )
            return
        field.value = ""
        await self.send_message(text, language=language)

    async def send_message(self, text: str, *, language: str | None = None) -> None:
        """Send ``text`` as the user's message, typed or heard (then ``language`` is the
        transcript's, so the reply follows the language spoken)."""
        if self.companion is not None:
            self.companion.stop_speaking()  # the user talks over the companion: it stops
        sent = await self.chat.add(UserMessage(text))
        reply = await self.chat.add(AssistantMessage())
        if not self.companion_ready.is_set():
            reply.set_pending("starting…, your message is queued")
            self._queued += [sent, reply]
        self._turns.append(self._run_turn(text, reply, language))

    @work(group="turn", exit_on_error=False)
    async def _run_turn(self, text: str, reply: AssistantMessage, language: str | None) -> None:
        await self.companion_ready.wait()
        if self._boot_error is not None:
            await reply.mark_failed(self._boot_error)
            return
        thread_id = self.thread_id
        assert thread_id is not None
        try:
            async for event in self.companion.turn(thread_id, text, language=language):
                if reply.is_attached:  # else the user switched threads; the turn still saves
                    await show_event(event, reply)
        except asyncio.CancelledError:
            if reply.is_attached:
                await reply.mark_stopped()
                reply.set_meta("stopped")
            raise
        except ValueError as exc:  # input the companion refuses (it says why)
            await reply.mark_failed(str(exc))
        except Exception as exc:
            log.exception("turn failed")
            await reply.mark_failed(f"something went wrong: {exc} (details in the log)")

    # -- eyes and watch mode -------------------------------------------------------------------

    def action_eyes(self) -> None:
        """Turn screen capture on or off (watch mode needs the eyes, so it stops too)."""
        if not self._can_act():
            return
        eyes = self.companion.eyes
        if eyes.on:
            self._stop_watching()
            eyes.turn_off()
        else:
            eyes.turn_on()
        self._show_eyes_indicator()

    async def action_watch(self) -> None:
        """Watch mode: look now and then and speak up when something is worth it."""
        if not self._can_act():
            return
        if self._watching is not None:
            self._stop_watching()
            await self.chat.add(Notice("watch mode off"))
        else:
            self.companion.eyes.turn_on()
            interval = self.settings.vision.watch_interval_s
            self._watching = self._watch()
            await self.chat.add(Notice(f"watch mode on: looking every {interval:g} s"))
        self._show_eyes_indicator()

    def _stop_watching(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None

    @work(group="watch", exit_on_error=False)
    async def _watch(self) -> None:
        from agent.watch import watch

        await show_unprompted(watch(self.companion, lambda: self.thread_id or ""), self.chat)

    def _show_eyes_indicator(self) -> None:
        self.query_one(ChatInput).show_sight(
            eyes_on=self._eyes_on(), watching=self._watching is not None
        )

    def _eyes_on(self) -> bool:
        return self.companion is not None and self.companion.eyes.on

    def action_mute(self) -> None:
        """Mute or unmute the voice (speech goes on silently, so unmuting resumes it)."""
        if not self._can_act():
            return
        muted = self.companion.voice.toggle_mute()
        self.notify("voice muted" if muted else "voice unmuted")

    def action_listen(self) -> None:
        """Push-to-talk: listen for one utterance (pressed again: end it now)."""
        self.listening.push_to_talk()

    def action_hands_free(self) -> None:
        """Hands-free on or off: every utterance becomes a message."""
        self.listening.toggle_hands_free()

    def action_stop(self) -> None:
        """Barge-in: silence the voice and stop the reply being written (later queued
        messages still get answers). Push-to-talk stops listening, hearing nothing."""
        self.listening.cancel_push_to_talk()
        if self.companion is not None:
            self.companion.stop_speaking()
            if self.thread_id is not None:
                self.companion.stop_unprompted(self.thread_id)
        for worker in self._turns:
            if not worker.is_finished:
                worker.cancel()
                break
        self._turns = [w for w in self._turns if not w.is_finished and not w.is_cancelled]

    def on_input_changed(self, event: Input.Changed) -> None:
        # The first keystroke of a message: with the eyes on, start looking already, so the
        # description is (nearly) ready when the message is sent (a glance does nothing if off).
        if event.input.id == "input" and len(event.value) == 1 and self.companion is not None:
            self.companion.eyes.glance()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Reached only when "send" is remapped away from Enter: send anyway, it is the input line.
        event.stop()
        self.run_worker(self.action_send())

    # -- conversations and modes ---------------------------------------------------------------

    async def action_new_thread(self) -> None:
        if not self._can_act():
            return
        await self._open_thread(new_thread_id())

    async def action_threads(self) -> None:
        if not self._can_act():
            return
        from .screens.threads import ThreadPicker

        threads = await self.companion.threads.list(self.settings.user_id)
        if not threads:
            self.notify("No saved conversations yet.")
            return

        async def switch(thread_id: str | None) -> None:
            if thread_id and thread_id != self.thread_id:
                await self._open_thread(thread_id)  # says so when it cannot be read

        await self.push_screen(ThreadPicker(threads, self.thread_id), switch)

    async def action_cycle_mode(self) -> None:
        """Switch to the next mode (auto → online → offline) and save it."""
        if not self._can_act():
            return
        from ._modes import cycle_mode

        message = await cycle_mode(self.companion, self.settings, self._overrides)
        await self.chat.add(Notice(message))

    def action_memory(self) -> None:
        """Jump to the memory pane's filter, or back to the input line."""
        panes = self.query("#memory-filter")
        if not panes:
            self.notify("Memory is off (see the status pane).")
            return
        memory_filter = panes.first()
        if memory_filter.has_focus or self.focused in memory_filter.parent.query("*"):
            self.query_one(ChatInput).focus()
        else:
            memory_filter.focus()

    # Actions bound with priority (so the input line's own keys cannot shadow them) act only on
    # the main screen: a dialog keeps its keys.
    _MAIN_SCREEN_ACTIONS = frozenset(
        "new_thread threads cycle_mode eyes watch memory mute listen hands_free".split()
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self._MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("New conversation", "Start a new conversation", self.action_new_thread)
        yield SystemCommand("Switch conversation", "List conversations", self.action_threads)
        yield SystemCommand("Cycle mode", "auto → online → offline", self.action_cycle_mode)
        yield SystemCommand("Stop reply", "Stop the reply and the voice", self.action_stop)
        yield SystemCommand("Mute/unmute", "Silence the voice", self.action_mute)
        yield SystemCommand("Memories", "See, filter, edit and delete memories", self.action_memory)
        yield SystemCommand("Eyes on/off", "Capture the screen for each turn", self.action_eyes)
        yield SystemCommand("Watch mode on/off", "Speak up about the screen", self.action_watch)
        yield SystemCommand("Push-to-talk", "Say one message", self.action_listen)
        yield SystemCommand("Hands-free on/off", "Listen continuously", self.action_hands_free)

    # -- shutdown --------------------------------------------------------------------------------

    def _on_stop_signal(self, signum: int) -> None:
        """SIGTERM (`kill`) or SIGHUP (the terminal went away): like Esc, then quit. The reply
        being written is saved marked stopped, memory updates get their few seconds, and the
        exit status is 128 + the signal."""
        if self._stop_signal is None:
            self._stop_signal = signum
            self.run_worker(self._stop_for_signal(128 + signum), group="shutdown")

    async def _stop_for_signal(self, code: int) -> None:
        await self._close_companion()
        self.exit(code, return_code=code)

    async def action_quit(self) -> None:
        await self._close_companion()
        self.exit(_exit.OK)

    async def on_unmount(self) -> None:
        await self._close_companion()

    async def _close_companion(self) -> None:
        if self._companion_closed:
            return
        self._companion_closed = True
        await self.listening.aclose()  # the microphone closes first
        self.workers.cancel_group(self, "updates")
        if self.companion is not None:
            with contextlib.suppress(Exception):
                await self.companion.aclose()


def run_tui(config_file: Path | None, overrides: dict[str, Any]) -> int:
    """Run the TUI until it quits; returns the exit status."""
    app = TermmateApp(config_file, overrides)
    code = app.run()
    return app.return_code if app.return_code is not None else (code or _exit.OK)
