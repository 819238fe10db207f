"""Watch mode: the companion looks at the screen now and then, and may speak up unasked.

Every ``vision.watch_interval_s`` it captures; when the screen changed since the last look, it
runs a turn with no user message, where reason_and_plan decides to respond or stay silent. It
speaks up at most once per ``vision.watch_min_gap_s``, never while a turn is running, and a
turn from the user stops an unprompted one at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from vision import VisionError

from .events import TurnEvent, TurnFinished

log = logging.getLogger(__name__)


async def watch(companion: Any, thread_id: Callable[[], str]) -> AsyncIterator[TurnEvent]:
    """Yield the events of every unprompted turn until the iteration is closed.

    ``thread_id`` is asked each time, so the turn goes to the conversation on screen.
    """
    settings = companion.settings.vision
    last_spoke = float("-inf")
    baseline = False  # the first look only sets what "changed" is measured against
    while True:
        await asyncio.sleep(settings.watch_interval_s)
        thread = thread_id()
        if companion.busy(thread):
            continue
        try:
            sight = await companion.eyes.look()
        except VisionError:
            continue  # the eyes keep the problem: their status line says it
        if not baseline:
            baseline = True
            continue
        if sight.reused or time.monotonic() - last_spoke < settings.watch_min_gap_s:
            continue
        log.info("the screen changed (%.1f%%): deciding whether to speak up", sight.change * 100)
        async for event in companion.turn(thread, None, trigger="watch", look=True):
            yield event
            if isinstance(event, TurnFinished) and event.action == "respond" and event.text:
                last_spoke = time.monotonic()
