"""What changes between turns, for every front end: status, downloads, memory, speech.

Each part of the companion is built with ``status_changed`` as its change callback and
``download`` as its downloads' reporter; the Companion tells the hub how to read the status
(``report_status``). Front ends ``listen()``: each gets its own queue, nothing polls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from .broadcast import Broadcast
from .events import (
    MemoryChanged,
    ModelDownload,
    SentenceSpeaking,
    SpeechFailed,
    SpeechFinished,
    SpeechStarted,
    StatusChanged,
)
from .llm.types import DownloadProgress
from .status import CompanionStatus

Update = (
    StatusChanged
    | ModelDownload
    | MemoryChanged
    | SpeechStarted
    | SentenceSpeaking
    | SpeechFailed
    | SpeechFinished
)


class Updates:
    """The broadcast of everything that changes between turns."""

    def __init__(self) -> None:
        self._broadcast: Broadcast[Update] = Broadcast()
        self._status: Callable[[], CompanionStatus] | None = None

    def report_status(self, status: Callable[[], CompanionStatus]) -> None:
        """Where ``status_changed`` reads the status it publishes (the Companion's)."""
        self._status = status

    def status_changed(self, *_: object) -> None:
        """Something in the status pane changed: publish the new status (if anyone listens)."""
        if self._status is not None and self._broadcast.listening:
            self._broadcast.publish(StatusChanged(self._status()))

    def download(self, progress: DownloadProgress) -> None:
        """A model download moved on (a step of about 1%, or its end)."""
        self._broadcast.publish(ModelDownload(progress.name, progress.done, progress.total))
        self.status_changed()

    def publish(self, update: Update) -> None:
        self._broadcast.publish(update)

    def listen(self) -> AsyncIterator[Update]:
        return self._broadcast.listen()
