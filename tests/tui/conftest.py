"""Helpers for driving the TUI with Textual's Pilot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.pilot import Pilot


async def wait_for(
    pilot: Pilot, condition: Callable[[], bool], limit_s: float = 30.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` holds (fails the test after ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)
