"""perceive_environment: look at the screen, and at pictures sent with the message, in parallel
with the memory search.

The screen only on turns with the eyes on; pictures whenever a front end sent some. It never
fails a turn: when the screen cannot be captured or the vision model is slow or down, the turn
goes on without sight and the status says why.
"""

from __future__ import annotations

import logging
import time

from langgraph.runtime import Runtime

from vision import VisionError

from ..context import TurnContext
from ..events import Perceived, PerceptionFailed
from ..state import GraphState

log = logging.getLogger(__name__)


async def perceive_environment(state: GraphState, runtime: Runtime[TurnContext]) -> dict:
    eyes = runtime.context.eyes
    update: dict[str, str | None] = {"visual_context": None, "pictures_seen": None}
    if eyes is not None and state.get("images"):
        started = time.perf_counter()
        try:
            pictures = await eyes.describe_pictures(state["images"])
        except VisionError as exc:
            log.info("answering without the pictures: %s", exc.reason)
            runtime.stream_writer(PerceptionFailed(exc.status))
        else:
            elapsed_ms = (time.perf_counter() - started) * 1000
            runtime.stream_writer(Perceived(pictures, False, elapsed_ms))
            update["pictures_seen"] = pictures
    if eyes is not None and state.get("look"):
        try:
            sight = await eyes.look()
        except VisionError as exc:
            log.info("answering without sight: %s", exc.reason)
            runtime.stream_writer(PerceptionFailed(exc.status))
        else:
            runtime.stream_writer(
                Perceived(sight.description, sight.reused, sight.timings.total_ms)
            )
            update["visual_context"] = sight.description
    return update
