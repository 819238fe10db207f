"""Errors of the companion itself (model errors live in agent.llm.errors)."""

from __future__ import annotations


class StartupError(Exception):
    """The companion cannot start with these settings; ``reason`` says what to change."""

    exit_code = 2
    """What a command exits with when this stops it (2: change the settings)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CorruptData(StartupError):
    """Saved data cannot be read (a damaged or foreign file). ``reason`` names the file and
    what to do; termmate never deletes the user's data to get past it."""

    exit_code = 1
