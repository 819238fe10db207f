"""Waiting on a condition with a bound (never sleep-and-hope): ``eventually`` inside a running
event loop, ``settled`` for a Textual app driven by its Pilot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.pilot import Pilot


async def eventually(
    condition: Callable[[], object], timeout_s: float = 10.0, what: str = ""
) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout_s``.

    Polls every 20 ms without blocking the loop, so the tasks the condition watches go on.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def settled(
    pilot: Pilot, condition: Callable[[], object], timeout_s: float = 30.0, what: str = ""
) -> None:
    """For a Textual app under test: let it run (process its messages and repaint) until
    ``condition()`` holds; fail the test after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        await pilot.pause(0.05)
