"""Writes and a reindex take turns: any number of writes at once, or one reindex alone.

A reindex copies every memory, re-embeds the copies and rebuilds the store from them. A write
that landed after the copy was taken would be wiped by the rebuild, so writes and a reindex
must not overlap. Reads (search, list, get) do not pass the gate.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class WriteGate:
    """A readers-writer lock for one event loop: writes share it, a reindex holds it alone.

    Every write (add, update, delete, import, cleanup) holds the shared side for its whole
    run, embedding included. A reindex takes the exclusive side before its snapshot and keeps
    it until the rebuilt store is in place: it waits for the writes already running, and
    writes that arrive meanwhile wait at their very start, so they embed with the model and
    vector size the store has after the reindex. A waiting reindex turns new writes away
    until it has run, so a stream of writes cannot starve it.
    """

    def __init__(self) -> None:
        self._writes = 0
        self._reindex = False
        # Set/clear only from the event loop's thread: state changes need no lock, and releasing
        # (in a finally, maybe while cancelled) never has to wait for anything.
        self._no_reindex = asyncio.Event()
        self._no_reindex.set()
        self._no_writes = asyncio.Event()
        self._no_writes.set()
        self._waiting = 0

    @property
    def reindexing(self) -> bool:
        """Whether a reindex holds the gate or is waiting for the running writes."""
        return self._reindex

    @property
    def writing(self) -> int:
        """How many writes hold the gate now."""
        return self._writes

    @property
    def waiting(self) -> int:
        """How many writes wait at the gate for a reindex to finish."""
        return self._waiting

    @asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """Hold the shared side (for one write) while the block runs."""
        while self._reindex:
            self._waiting += 1
            try:
                await self._no_reindex.wait()
            finally:
                self._waiting -= 1
        self._writes += 1
        self._no_writes.clear()
        try:
            yield
        finally:
            self._writes -= 1
            if self._writes == 0:
                self._no_writes.set()

    @asynccontextmanager
    async def reindex(self) -> AsyncIterator[None]:
        """Hold the exclusive side: no write runs while the block does."""
        while self._reindex:  # one reindex at a time
            await self._no_reindex.wait()
        self._reindex = True
        self._no_reindex.clear()
        try:
            await self._no_writes.wait()
            yield
        finally:
            self._reindex = False
            self._no_reindex.set()


class _Gated(Protocol):
    writes: WriteGate


G = TypeVar("G", bound=_Gated)


def through(
    method: Callable[Concatenate[G, P], Awaitable[T]], *, alone: bool
) -> Callable[Concatenate[G, P], Awaitable[T]]:
    """An async method of the store run through ``self.writes``: as a write (its shared side),
    or ``alone`` (its exclusive side, as a reindex)."""

    @functools.wraps(method)
    async def gated(self: G, *args: P.args, **kwargs: P.kwargs) -> T:
        async with self.writes.reindex() if alone else self.writes.write():
            return await method(self, *args, **kwargs)

    return gated
