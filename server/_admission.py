"""Admission: at most ``max_concurrent_turns`` turns run; others wait their turn, up to a bound.

A request that finds every slot taken waits for one for up to ``queue_timeout_s`` and then
gets 429 with Retry-After. The slots also know which turns are running, so a stop button or a
shutdown can stop their replies — each at most once: stopping a reply that is already being
stopped would cut short the saving of what it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import HTTPException

# Retry-After for 429: about one reply's time, never more than the wait already spent.
_RETRY_AFTER_MAX_S = 5


@dataclass(eq=False)
class HeldTurn:
    """A turn holding a slot."""

    thread_id: str
    started: bool = False
    """Its reply is being written (it has its thread; turns there before it have ended)."""
    stopped: bool = False
    """Its reply was asked to stop."""


class TurnSlots:
    """The turn slots of one service."""

    def __init__(
        self, limit: int, wait_s: float, stop_reply: Callable[[str], bool] | None = None
    ) -> None:
        """``stop_reply(thread_id)``: stops the reply being written there (Companion.stop)."""
        self._free = asyncio.Semaphore(limit)
        self._wait_s = wait_s
        self._stop_reply = stop_reply or (lambda _: False)
        self._held: list[HeldTurn] = []
        self.closing = False
        """Shutdown began: no new turn starts."""
        self.stopping = False
        """Shutdown's grace is over: every reply is stopped as soon as it runs."""

    @property
    def running(self) -> int:
        """Turns holding a slot now."""
        return len(self._held)

    @contextlib.asynccontextmanager
    async def slot(self, thread_id: str) -> AsyncIterator[HeldTurn]:
        """Hold a slot for a turn on ``thread_id``: 429 when none frees up in time, 503 when
        the service is shutting down."""
        self._refuse_if_closing()
        await self._acquire()
        try:
            self._refuse_if_closing()
            held = HeldTurn(thread_id)
            self._held.append(held)
            try:
                yield held
            finally:
                self._held.remove(held)
        finally:
            self._free.release()

    async def _acquire(self) -> None:
        if not self._free.locked():
            await self._free.acquire()  # a free slot: no waiting, no timer
            return
        try:
            if self._wait_s <= 0:
                raise TimeoutError
            await asyncio.wait_for(self._free.acquire(), self._wait_s)
        except TimeoutError:
            retry_after = max(1, min(_RETRY_AFTER_MAX_S, math.ceil(self._wait_s)))
            raise HTTPException(
                status_code=429,
                detail=f"every turn slot is busy ({self.running} turns running, "
                "[server] max_concurrent_turns); try again shortly",
                headers={"Retry-After": str(retry_after)},
            ) from None

    def started(self, held: HeldTurn) -> None:
        """``held``'s reply is being written now; once the grace is over, it is stopped at
        once (it waited for its thread while the others were stopped)."""
        held.started = True
        if self.stopping:
            self._stop(held)

    def stop(self, thread_id: str) -> bool:
        """Stop the reply being written on ``thread_id`` (saved, marked stopped); False when
        none is, or it is being stopped already."""
        return any([self._stop(h) for h in list(self._held) if h.thread_id == thread_id])

    def close(self) -> None:
        """Shutdown began: refuse new turns; those running go on."""
        self.closing = True

    def stop_all(self) -> None:
        """The grace is over: stop every reply being written (each is saved, marked stopped)."""
        self.closing = self.stopping = True
        for held in list(self._held):
            self._stop(held)

    def _stop(self, held: HeldTurn) -> bool:
        if not held.started or held.stopped:
            return False
        held.stopped = True
        return self._stop_reply(held.thread_id)

    def _refuse_if_closing(self) -> None:
        if self.closing:
            raise HTTPException(
                status_code=503,
                detail="the server is shutting down; try again once it is back",
                headers={"Retry-After": "5"},
            )
