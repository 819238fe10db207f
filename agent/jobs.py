"""Work that runs after a reply, one job at a time, without holding up the conversation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class AfterReply:
    """A queue of jobs (e.g. updating memory) run in order by one task, started on demand.

    Jobs run one after another so each sees what the previous one wrote (Read-then-Write across
    turns); the thread they came from is free as soon as they are queued.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Coroutine[Any, Any, None]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def submit(self, job: Coroutine[Any, Any, None]) -> None:
        self._queue.put_nowait(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="termmate-after-reply")

    async def _run(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a job after the reply failed")

    async def drain(self, timeout_s: float) -> None:
        """Let queued jobs finish for up to ``timeout_s``, then cancel what is left."""
        worker = self._worker
        if worker is None or worker.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(worker), timeout_s)
        if not worker.done():
            log.warning("stopping %d unfinished job(s) after the reply", self._queue.qsize() + 1)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        while not self._queue.empty():
            self._queue.get_nowait().close()  # never started: no "never awaited" warning
