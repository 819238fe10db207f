"""Hearing in the TUI: push-to-talk (``listen``, F5) and hands-free (``hands_free``, F6).

The microphone is open only inside the workers started here (``Ears.hear_once`` and
``Ears.hands_free``), so the UI never waits on it; cancelling them closes it.
While it is open the input line's frame says so, with a level meter refreshed by a Textual
timer that runs only then; the status pane's ears line says so through the companion's
updates, which also drive the frame (``on_update``), so nothing polls while idle.

- Push-to-talk ends by itself when the user stops talking, on a second press, at
  ``listen.max_utterance_s``; Esc cancels it. The transcript goes into the input line and,
  with ``listen.auto_send``, is sent at once in the language it was heard in.
- Hands-free turns each utterance into a message. While the companion speaks it pauses (it
  would hear itself), unless ``listen.barge_in``: then speech from the user stops the voice
  and the reply, like Esc.

Whatever goes wrong (no microphone, no recogniser) is a notice, and the ears line says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.worker import Worker, WorkerCancelled, WorkerFailed, get_current_worker

from .widgets import ChatInput

if TYPE_CHECKING:
    from textual.timer import Timer

    from agent.ears import Ears, HandsFreeHearing
    from audio import SpeechOnset

    from .app import TermmateApp

log = logging.getLogger(__name__)

METER_INTERVAL_S = 0.1
"""How often the level meter is redrawn while the microphone is open."""


class Listening:
    """The app's ears: the two keys, their workers and what the input line's frame says."""

    def __init__(self, app: TermmateApp) -> None:
        self._app = app
        self._once: Worker[None] | None = None
        self._end_once: asyncio.Event | None = None
        self._hands_free: Worker[None] | None = None
        self._heard: HandsFreeHearing | None = None
        self._paused = False
        self._meter: Timer | None = None
        self._label: str | None = None

    @property
    def push_to_talk_on(self) -> bool:
        """Whether push-to-talk is listening (or transcribing what it heard)."""
        return self._end_once is not None

    @property
    def hands_free_on(self) -> bool:
        return self._hands_free is not None

    @property
    def metering(self) -> bool:
        """Whether the level meter's timer runs (only while the microphone is open)."""
        return self._meter is not None

    # -- the keys ------------------------------------------------------------------------------

    def push_to_talk(self) -> None:
        """Listen for one utterance; pressed while listening, end it now (what was said so far
        is heard)."""
        if self._end_once is not None:
            self._end_once.set()
            return
        if self.hands_free_on:
            self._app.notify(f"Hands-free is listening already ({self._key('hands_free')} stops).")
            return
        ears = self._ears_or_say_why()
        if ears is None:
            return
        self._app.companion.stop_speaking()  # the user is about to talk over it
        self._end_once = asyncio.Event()
        self._once = self._app.run_worker(
            self._hear_once(ears, self._end_once), group="listen", exit_on_error=False
        )

    def toggle_hands_free(self) -> None:
        """Start listening continuously, or stop."""
        if self._hands_free is not None:
            self._hands_free.cancel()
            self._hands_free, self._heard, self._paused = None, None, False
            self._app.notify("Hands-free off.")
            self.refresh()
            return
        if self.push_to_talk_on:
            self._app.notify(f"Push-to-talk is listening ({self._key('listen')} ends it).")
            return
        ears = self._ears_or_say_why()
        if ears is None:
            return
        self._hands_free = self._app.run_worker(
            self._listen_hands_free(ears), group="hands-free", exit_on_error=False
        )
        self.refresh()

    def cancel_push_to_talk(self) -> None:
        """Esc: close the microphone and hear nothing."""
        if self._once is not None:
            self._once.cancel()
        self._once = self._end_once = None
        self.refresh()

    def on_update(self, update: Any) -> None:
        """An update from ``companion.updates()``: the voice started or stopped speaking
        (hands-free pauses meanwhile), or the status changed (the microphone opened or closed:
        the frame and its meter follow)."""
        from agent.events import SpeechFinished, SpeechStarted, StatusChanged

        if isinstance(update, SpeechStarted | SpeechFinished):
            self._follow_voice()
        if isinstance(update, StatusChanged | SpeechStarted | SpeechFinished):
            self.refresh()

    async def aclose(self) -> None:
        """Quitting: close the microphone, whatever is listening."""
        workers = [w for w in (self._once, self._hands_free) if w is not None]
        self._once = self._end_once = self._hands_free = self._heard = None
        for worker in workers:
            worker.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()

    # -- the workers ---------------------------------------------------------------------------

    async def _hear_once(self, ears: Ears, end: asyncio.Event) -> None:
        try:
            transcript = await ears.hear_once(stop=end)
        except Exception as exc:
            self._cannot_listen(exc)
            return
        finally:
            if self._end_once is end:  # (else Esc let it go, and F5 may have started anew)
                self._once = self._end_once = None
            self.refresh()
        if transcript is None:
            self._app.notify("Heard nothing.", timeout=3)
            return
        field = self._app.query_one(ChatInput)
        typed = field.value.strip()  # what the user typed stays, the words follow it
        field.value = f"{typed} {transcript.text}" if typed else transcript.text
        field.cursor_position = len(field.value)
        if self._app.settings.listen.auto_send:
            await self._app.send_input(language=transcript.language)

    async def _listen_hands_free(self, ears: Ears) -> None:
        worker = get_current_worker()
        try:
            async with ears.hands_free(
                on_speech_start=self._on_speech_start, on_missed=self._missed
            ) as heard:
                self._heard, self._paused = heard, False
                self._follow_voice()
                async for transcript in heard:
                    await self._app.send_message(transcript.text, language=transcript.language)
        except Exception as exc:
            self._cannot_listen(exc)
        finally:
            if self._hands_free is worker:  # it ended by itself (an error), not by the key
                self._hands_free, self._heard = None, None
            self.refresh()

    def _missed(self, reason: str) -> None:
        self._app.notify(f"Missed that ({reason}); still listening.", severity="warning")

    def _on_speech_start(self, onset: SpeechOnset) -> None:
        """Hands-free heard the user start talking; while the companion spoke, that is a
        barge-in (only heard with listen.barge_in): stop the voice and the reply, like Esc."""
        if onset.while_paused:
            self._paused = False
            self._app.action_stop()
            self.refresh()

    def _follow_voice(self) -> None:
        """Hands-free listens only while the companion is not speaking."""
        heard, voice = self._heard, self._app.companion.voice
        if heard is None:
            return
        speaking = voice is not None and voice.status.state == "speaking"
        if speaking and not self._paused:
            heard.pause()
        elif not speaking and self._paused:
            heard.resume()
        self._paused = speaking

    # -- what the input line's frame says ---------------------------------------------------------

    def refresh(self) -> None:
        """Show on the input line's frame what is heard now; run the meter while the
        microphone is open, and only then."""
        ears = self._ears
        open_now = ears is not None and ears.listening
        if self.hands_free_on:
            if self._paused and not self._app.settings.listen.barge_in:
                state = "paused while it speaks"
            elif self._paused:
                state = "talk to interrupt"
            else:
                state = "listening"
            self._label = f"● HANDS-FREE: {state} ({self._key('hands_free')} stops)"
        elif open_now and self.push_to_talk_on:
            self._label = f"● LISTENING ({self._key('listen')} ends, Esc cancels)"
        else:
            self._label = None
        if open_now and self._meter is None:
            self._meter = self._app.set_interval(METER_INTERVAL_S, self._show_level)
        elif not open_now and self._meter is not None:
            self._meter.stop()
            self._meter = None
        self._show_level()

    def _show_level(self) -> None:
        ears = self._ears
        if self._meter is not None and not (ears is not None and ears.listening):
            self.refresh()  # it closed: the meter stops
            return
        level = ears.level if ears is not None and self._meter is not None else None
        self._app.query_one(ChatInput).show_hearing(self._label, level)

    @property
    def _ears(self) -> Ears | None:
        companion = self._app.companion
        return companion.ears if companion is not None else None

    # -- helpers ---------------------------------------------------------------------------------

    def _ears_or_say_why(self) -> Ears | None:
        """The ears, when they can listen now; else None, having told the user why."""
        from agent.llm.errors import NoModelAvailable

        companion = self._app.companion
        if companion is None or not self._app.companion_ready.is_set():
            self._app.notify("Still starting: try again in a moment.")
            return None
        if companion.ears is None:
            self._app.notify("Hearing is not available here.", severity="error")
            return None
        try:
            companion.ears.models.choose()
        except NoModelAvailable as exc:
            self._app.notify(f"Cannot listen: {exc.reason}", severity="error", timeout=10)
            return None
        return companion.ears

    def _cannot_listen(self, exc: Exception) -> None:
        reason = getattr(exc, "reason", None)
        if not isinstance(reason, str):  # not one of ours: a bug, with its traceback logged
            log.exception("listening failed")
            reason = f"{exc} (details in the log)"
        self._app.notify(f"Cannot listen: {reason}", severity="error", timeout=10)

    def _key(self, binding_id: str) -> str:
        """How the first key bound to ``binding_id`` is shown (F5, ^L, ...)."""
        keys = getattr(self._app.settings.keys, binding_id, "") or binding_id
        shown = self._app.get_key_display(Binding(keys.split(",")[0].strip(), ""))
        return shown.upper() if shown[:1] == "f" and shown[1:].isdigit() else shown
