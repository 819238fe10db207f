"""Ctrl+T: pick a conversation to switch to."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class ThreadPicker(ModalScreen[str | None]):
    """Lists conversations, newest first; Enter switches, Esc cancels."""

    DEFAULT_CSS = """
    ThreadPicker { align: center middle; }
    ThreadPicker > OptionList {
        width: 80%; max-width: 100; height: auto; max-height: 80%;
        border: round $primary; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, threads: list[Any], current: str | None) -> None:
        super().__init__()
        self._threads = threads
        self._current = current

    def compose(self) -> ComposeResult:
        options = [
            Option(
                Text.assemble(
                    "▶ " if t.thread_id == self._current else "  ",
                    t.title,
                    (f"  {t.updated_at[:16].replace('T', ' ')} · {t.turns} turns · ", "dim"),
                    (t.thread_id, "dim"),
                ),
                id=t.thread_id,
            )
            for t in self._threads
        ]
        picker = OptionList(*options)
        picker.border_title = "conversations"
        yield picker

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        for index, t in enumerate(self._threads):
            if t.thread_id == self._current:
                picker.highlighted = index

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
