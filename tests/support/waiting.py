"""Waiting on a condition inside a running event loop, with a bound (never sleep-and-hope)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


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
