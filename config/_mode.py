"""The three ways termmate reaches its models."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """How termmate chooses between remote servers and in-process models."""

    AUTO = "auto"
    """Remote when reachable, otherwise the local model; back to remote when it returns."""
    ONLINE = "online"
    """Remote servers only; their errors are shown as errors."""
    OFFLINE = "offline"
    """Local models only; the process opens no network connection at all."""

    def next(self) -> Mode:
        """The mode after this one in the cycle auto → online → offline → auto."""
        order = list(Mode)
        return order[(order.index(self) + 1) % len(order)]
