"""Key bindings users can remap (Textual key names, comma-separated for several keys)."""

from __future__ import annotations

from ._endpoints import SectionModel


class KeySettings(SectionModel):
    """Key bindings. Each value is one or more Textual key names, e.g. "ctrl+n" or "f2,ctrl+n"."""

    send: str = "enter"
    """Send the message in the input line."""
    stop: str = "escape"
    """Stop the running reply and silence the voice; the partial reply stays, marked stopped."""
    new_thread: str = "ctrl+n"
    """Start a new conversation."""
    threads: str = "ctrl+t"
    """List conversations and switch to one."""
    cycle_mode: str = "ctrl+o"
    """Cycle the mode auto → online → offline (saved to the settings file)."""
    eyes: str = "ctrl+e"
    """Turn screen capture on or off (a clear indicator shows while it is on)."""
    watch: str = "ctrl+w"
    """Watch mode: look at the screen now and then and speak up unasked."""
    mute: str = "f4,ctrl+m"
    """Mute or unmute the voice (most terminals send Ctrl+M as Enter: F4 works everywhere)."""
    memory: str = "f2"
    """Jump to the memory pane (and back to the input line)."""
    listen: str = "f5"
    """Push-to-talk: listen for one utterance (it ends by itself when you stop talking; press
    again to end it sooner)."""
    hands_free: str = "f6"
    """Hands-free: listen continuously, each utterance a message; press again to stop."""
    quit: str = "ctrl+q"
    """Quit termmate."""

    def keymap(self) -> dict[str, str]:
        """Binding id → keys, in the form Textual's ``App.set_keymap`` takes."""
        return dict(self.model_dump())
