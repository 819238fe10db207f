"""Errors of the companion itself (model errors live in agent.llm.errors)."""

from __future__ import annotations


class StartupError(Exception):
    """The companion cannot start; ``reason`` says what to change."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
