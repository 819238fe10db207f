"""perceive_environment: look at the screen, in parallel with the memory search.

Only on turns with the eyes on. It never fails a turn: when the screen cannot be captured or
the vision model is slow or down, the turn goes on without sight and the status says why.
"""

from __future__ import annotations

import logging

from langgraph.runtime import Runtime

from vision import VisionError

from ..context import TurnContext
from ..events import Perceived, PerceptionFailed
from ..state import GraphState

log = logging.getLogger(__name__)


async def perceive_environment(state: GraphState, runtime: Runtime[TurnContext]) -> dict:
    eyes = runtime.context.eyes
    if not state.get("look") or eyes is None:
        return {"visual_context": None}
    try:
        sight = await eyes.look()
    except VisionError as exc:
        log.info("answering without sight: %s", exc.reason)
        runtime.stream_writer(PerceptionFailed(exc.status))
        return {"visual_context": None}
    runtime.stream_writer(Perceived(sight.description, sight.reused, sight.timings.total_ms))
    return {"visual_context": sight.description}
