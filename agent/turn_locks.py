"""One turn at a time per thread, in this process and across processes.

A per-thread asyncio lock orders the turns of one process; a *shared lock* orders them between
processes: without it the later run would overwrite the earlier one's checkpoint. The thread
store says which shared lock its conversations need (``ThreadStore.turn_lock``):

- the embedded stores: a ``flock`` on ``data_dir/locks/THREAD.lock``, seen by every process
  on this machine (the TUI and ``ask --thread`` on one conversation);
- PostgreSQL: a session advisory lock (``agent.postgres.locks``), seen by every process on
  any machine using that database (two ``termmate serve`` behind a load balancer).

Either is freed when the process holding it dies.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from .filelock import FileLock


class SharedLock(Protocol):
    """One thread's lock between processes."""

    async def acquire(self) -> None:
        """Wait until it is this process's (cancellable)."""

    def bind(self) -> None:
        """Called in the turn's own context (a copy) before the turn runs: what the turn's
        work must know of the lock (PostgreSQL: the session it writes through)."""

    async def release(self) -> None:
        """Let the next process have it."""


class FlockTurnLock:
    """The embedded stores' shared lock: ``flock`` on a file in ``data_dir/locks``."""

    def __init__(self, path: Path) -> None:
        self._lock = FileLock(path)

    async def acquire(self) -> None:
        await self._lock.acquire()

    def bind(self) -> None:
        return None  # the turn's writes need nothing from a file lock

    async def release(self) -> None:
        self._lock.release()


class HeldTurn:
    """A thread's turn, held by this process: ``run`` its work, which releases it when done."""

    def __init__(
        self, locks: TurnLocks, thread_id: str, local: asyncio.Lock, shared: SharedLock
    ) -> None:
        self._locks = locks
        self._thread_id = thread_id
        self._local = local
        self._shared = shared
        self._released = False

    def run(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` as a task in the lock's context; the turn is released when it ends."""
        context = contextvars.copy_context()
        context.run(self._shared.bind)
        task = asyncio.get_running_loop().create_task(work, context=context)
        task.add_done_callback(lambda _: self.release())
        return task

    def release(self) -> None:
        """Release the turn (once): the shared lock first, then this process's."""
        if self._released:
            return
        self._released = True
        self._locks._release_soon(self._thread_id, self._shared, self._local)


class TurnLocks:
    """The locks of every thread's turns. ``shared(thread_id)`` makes a thread's lock
    between processes (``ThreadStore.turn_lock``, or a ``FlockTurnLock`` in a folder)."""

    def __init__(self, shared: Callable[[str], SharedLock]) -> None:
        self._shared = shared
        # A thread's lock lives while a turn holds or waits for it: a service that sees
        # many conversations keeps only those of the turns under way.
        self._local: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._users: Counter[str] = Counter()
        self._releasing: set[asyncio.Task[None]] = set()

    def busy(self, thread_id: str) -> bool:
        """Whether a turn holds (or is saving under) ``thread_id``'s lock in this process."""
        lock = self._local.get(thread_id)
        return lock is not None and lock.locked()

    async def acquire(self, thread_id: str) -> HeldTurn:
        """Wait for ``thread_id``'s turn (in this process, then between processes)."""
        local = self._local[thread_id]
        self._users[thread_id] += 1
        try:
            await local.acquire()
            try:
                shared = self._shared(thread_id)
                await shared.acquire()
            except BaseException:
                local.release()
                raise
        except BaseException:
            self._done_with(thread_id)
            raise
        return HeldTurn(self, thread_id, local, shared)

    @property
    def threads(self) -> int:
        """Threads whose lock is held or waited for in this process."""
        return len(self._local)

    def _done_with(self, thread_id: str) -> None:
        self._users[thread_id] -= 1
        if self._users[thread_id] <= 0:
            del self._users[thread_id]
            self._local.pop(thread_id, None)

    def _release_soon(self, thread_id: str, shared: SharedLock, local: asyncio.Lock) -> None:
        # Called from a finished task's callback, where nothing can be awaited.
        task = asyncio.get_running_loop().create_task(self._release(thread_id, shared, local))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release(self, thread_id: str, shared: SharedLock, local: asyncio.Lock) -> None:
        try:
            await shared.release()
        finally:
            local.release()
            self._done_with(thread_id)

    async def aclose(self) -> None:
        """Wait for the releases under way (before the connections they use are closed)."""
        await asyncio.sleep(0)  # let finished turns' callbacks start their releases
        while self._releasing:
            await asyncio.wait(set(self._releasing))
