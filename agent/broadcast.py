"""One producer, many listeners, no polling: each listener gets its own queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Broadcast(Generic[T]):
    """``publish`` hands an item to every ``listen()`` iteration running at that moment."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[T]] = set()

    @property
    def listening(self) -> bool:
        return bool(self._queues)

    def publish(self, item: T) -> None:
        for queue in self._queues:
            queue.put_nowait(item)

    async def listen(self) -> AsyncIterator[T]:
        queue: asyncio.Queue[T] = asyncio.Queue()
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
