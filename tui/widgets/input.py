"""The input line: what the user types, and on its frame what is being captured: the screen
(framed in red) and the microphone (framed in green, with a live level meter)."""

from __future__ import annotations

from textual.widgets import Input

METER_CELLS = 8
"""How many cells the microphone's level meter is wide."""


def level_meter(level: float) -> str:
    """A level of 0..1 as a bar of METER_CELLS cells, e.g. ``████░░░░``."""
    filled = round(min(max(level, 0.0), 1.0) * METER_CELLS)
    return "█" * filled + "░" * (METER_CELLS - filled)


class ChatInput(Input, inherit_bindings=False):
    """The input line. Enter is left to the app's remappable "send" binding."""

    DEFAULT_CSS = """
    ChatInput { dock: bottom; margin: 0 1; }
    ChatInput.-hearing { border: tall $success; border-title-color: $success; }
    ChatInput.-eyes { border: tall $error; border-title-color: $error; }
    """

    BINDINGS = [b for b in Input.BINDINGS if getattr(b, "key", "") != "enter"]

    # What the frame says about each sense (None: nothing); both can show at once.
    _sight: str | None = None
    _hearing: str | None = None

    def show_sight(self, *, eyes_on: bool, watching: bool) -> None:
        """Say on the frame, while it is so, that the screen is captured (and how to stop it)."""
        self.set_class(eyes_on, "-eyes")
        if watching:
            self._sight = "● WATCHING the screen (Ctrl+W stops)"
        elif eyes_on:
            self._sight = "● EYES ON: the screen is captured each turn (Ctrl+E stops)"
        else:
            self._sight = None
        self._show_title()

    def show_hearing(self, label: str | None, level: float | None = None) -> None:
        """Say on the frame that the user is heard: ``label`` (None: they are not), and while
        the microphone is open, its ``level`` (0..1) as a meter."""
        self.set_class(label is not None, "-hearing")
        if label is not None and level is not None:
            label = f"{label} {level_meter(level)}"
        self._hearing = label
        self._show_title()

    @property
    def hearing_label(self) -> str | None:
        """What the frame says about hearing now (None: nothing)."""
        return self._hearing

    def _show_title(self) -> None:
        shown = [part for part in (self._hearing, self._sight) if part]
        self.border_title = " · ".join(shown) if shown else None
