"""A lock shared by every termmate process on this machine (fcntl.flock on a file).

Waiting polls gently (only while another process holds the lock); taking a free lock costs one
system call, so it is fine on the event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from types import TracebackType

from config import private_dir


class FileLock:
    """``async with FileLock(path):`` — exclusive across processes; released if a process dies."""

    def __init__(self, path: Path, *, poll_s: float = 0.05) -> None:
        self.path = path
        self._poll_s = poll_s
        self._fd: int | None = None

    async def acquire(self) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self._poll_s)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def __aenter__(self) -> FileLock:
        await self.acquire()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
