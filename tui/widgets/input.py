"""The input line: what the user types, framed in red while the screen is being captured."""

from __future__ import annotations

from textual.widgets import Input


class ChatInput(Input, inherit_bindings=False):
    """The input line. Enter is left to the app's remappable "send" binding."""

    DEFAULT_CSS = """
    ChatInput { dock: bottom; margin: 0 1; }
    ChatInput.-eyes { border: tall $error; border-title-color: $error; }
    """

    BINDINGS = [b for b in Input.BINDINGS if getattr(b, "key", "") != "enter"]

    def show_sight(self, *, eyes_on: bool, watching: bool) -> None:
        """Say on the frame, while it is so, that the screen is captured (and how to stop it)."""
        self.set_class(eyes_on, "-eyes")
        if watching:
            self.border_title = "● WATCHING the screen (Ctrl+W stops)"
        elif eyes_on:
            self.border_title = "● EYES ON: the screen is captured each turn (Ctrl+E stops)"
        else:
            self.border_title = None
