"""One turn's speech: generate_response feeds it the reply as it streams; the Companion ends it.

Audio bytes stay inside the voice pipeline (and, for ``ask --speak --json``, the final
SpeechResult): they never enter the graph's state or its checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TurnSpeech:
    """Speaks one reply sentence by sentence while the model is still writing it."""

    def __init__(
        self,
        voice: Any,
        *,
        started_at: float,
        keep_audio: bool = False,
        on_event: Callable[[Any], None] | None = None,
        voice_name: str | None = None,
    ) -> None:
        """``voice_name``: the voice to speak in (None: the voice service's own)."""
        self._voice = voice
        self._started_at = started_at
        self._keep_audio = keep_audio
        self._on_event = on_event
        self._voice_name = voice_name
        self._reply: Any = None

    def feed(self, text: str) -> list[str]:
        """Hand over a piece of the reply; returns the sentences it completed."""
        if self._reply is None:
            self._reply = self._voice.begin_reply(
                keep_audio=self._keep_audio,
                started_at=self._started_at,
                on_event=self._on_event,
                voice=self._voice_name,
            )
        return self._reply.feed_text(text)

    def restart(self) -> None:
        """The answer starts over (another model): drop what was queued for the old one."""
        if self._reply is not None:
            self._reply.cancel()
            self._reply = None

    def close(self) -> list[str]:
        """The reply is complete: speak what is left; returns the last sentences."""
        return self._reply.close() if self._reply is not None else []

    def cancel(self) -> None:
        """Stop speaking this reply now (barge-in, or a stopped turn)."""
        if self._reply is not None:
            self._reply.cancel()

    async def result(self) -> Any:
        """The SpeechResult once the reply has played out (None when nothing was said)."""
        return None if self._reply is None else await self._reply.wait()
