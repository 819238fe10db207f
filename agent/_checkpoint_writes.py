"""Knowing when a turn's checkpoint writes have landed.

LangGraph hands a finished node's writes to the checkpointer in a background task and streams
the node's output at once: the reply can reach the front end before it is saved. A turn
reports itself finished only once they have landed (``ThreadStore.finish_turn`` waits for
them), so "TurnFinished" means "saved", on either backend, for every reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

log = logging.getLogger(__name__)

# A write LangGraph scheduled always runs; the bound only keeps a bug from hanging a turn.
_LANDING_BOUND_S = 60.0


class TracksWrites:
    """Mixin for a LangGraph async checkpointer: counts each thread's writes from the moment
    LangGraph hands them over (``aput_writes`` is called when the task is scheduled, before
    it runs) until they are saved or have failed."""

    _in_flight: dict[str, int]
    _landed: dict[str, asyncio.Event]

    def aput_writes(  # type: ignore[override]  # deliberately not async: see below
        self,
        config: Any,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> Coroutine[Any, Any, None]:
        # Counted here, synchronously, when LangGraph creates the coroutine: by the time the
        # node's output is streamed the write is known, though it has not started yet.
        thread_id = str(config["configurable"]["thread_id"])
        self._writing(thread_id)
        work = super().aput_writes(config, writes, task_id, task_path)  # type: ignore[misc]
        return self._tracked(thread_id, work)

    async def writes_landed(self, thread_id: str) -> None:
        """Return once every write handed over for ``thread_id`` so far is saved (or failed)."""
        event = self._events().get(thread_id)
        if event is None:
            return
        try:
            await asyncio.wait_for(event.wait(), _LANDING_BOUND_S)
        except TimeoutError:
            log.warning("checkpoint writes of thread %s did not land in time", thread_id)

    async def _tracked(self, thread_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            self._written(thread_id)

    def _events(self) -> dict[str, asyncio.Event]:
        if not hasattr(self, "_landed"):
            self._in_flight, self._landed = {}, {}
        return self._landed

    def _writing(self, thread_id: str) -> None:
        events = self._events()
        self._in_flight[thread_id] = self._in_flight.get(thread_id, 0) + 1
        events.setdefault(thread_id, asyncio.Event()).clear()

    def _written(self, thread_id: str) -> None:
        left = self._in_flight.get(thread_id, 1) - 1
        if left > 0:
            self._in_flight[thread_id] = left
            return
        self._in_flight.pop(thread_id, None)
        event = self._landed.pop(thread_id, None)
        if event is not None:
            event.set()
