"""Model downloads in progress: who is downloading what, reported in steps, never in a flood.

A download reports every chunk it writes; front ends need a bar that moves by about 1%. Each
model's Fallback asks ``progress_for(noun)`` for its local backend's callback, so its status line
can say "downloading 42%", and every step (and the end) is handed to ``publish`` once.
"""

from __future__ import annotations

from collections.abc import Callable

from .types import DownloadProgress, ProgressCallback

# Without a size from the server, a step is this many bytes (100 MiB / 100).
_UNKNOWN_TOTAL = 100 * 2**20


class Downloads:
    """The downloads of one process; ``publish`` gets each step (1%) and each end."""

    def __init__(self, publish: Callable[[DownloadProgress], None] | None = None) -> None:
        self._publish = publish or (lambda _progress: None)
        self._active: dict[str, DownloadProgress] = {}

    def progress_for(self, owner: str) -> ProgressCallback:
        """The progress callback for the downloads of ``owner`` (a Fallback's noun)."""
        return lambda progress: self._report(owner, progress)

    def active(self, owner: str) -> DownloadProgress | None:
        """The download ``owner`` has in progress, as last reported (None: none)."""
        return self._active.get(owner)

    def _report(self, owner: str, progress: DownloadProgress) -> None:
        previous = self._active.get(owner)
        whole = progress.total is not None and progress.done >= progress.total
        step = (progress.total or _UNKNOWN_TOTAL) // 100
        if whole:
            self._active.pop(owner, None)
        elif (
            previous is None
            or previous.name != progress.name  # the next file of the same model
            or progress.done - previous.done >= step
        ):
            self._active[owner] = progress
        else:
            return  # less than a step since the last report
        self._publish(progress)
