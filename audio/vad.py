"""Voice activity detection: where an utterance begins and ends in a stream of microphone audio.

The detector is energy with an adaptive noise floor and hysteresis, frame by frame (20 ms).
Chosen over a neural detector (silero, via onnxruntime) because it costs microseconds a frame,
loads nothing, behaves the same on every machine and is easy to reason about and test; its
weakness is loud noise that is not speech (music, a door), which counts as speech. The user
pressed a key or chose hands-free, so such false starts are rare and cost one transcript.

- **Noise floor**: the level of the room, taken as the quietest frame of the last three
  seconds (minimum statistics): speech always has quieter moments between its sounds, so the
  floor stays with the room while someone talks, and follows a fan that starts within three
  seconds. It starts at the quietest of the first 100 ms (a key press is seldom followed by
  speech that soon) and never goes below -70 dBFS, so a digitally silent input does not make
  every click speech.
- **Start**: the level stays ``speech_threshold_db`` above the floor for ``min_speech_ms``.
- **Go on**: while the level stays above half that (hysteresis: the quiet ends of words do not
  end the utterance). **End**: ``end_silence_ms`` below it.

``UtteranceCutter`` puts the detector to work on audio: it keeps a pre-roll of
``pre_roll_ms`` before the detected start (so the first syllable is kept), cuts at
``max_utterance_s``, and hands out ``SpeechBegan`` and ``Utterance`` as they happen.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from config import ListenSettings

from .microphone import meter
from .pcm import Clip, encode_wav

LISTEN_RATE = 16_000
"""Samples per second of everything heard (what Whisper wants)."""
FRAME_MS = 20
FRAME = LISTEN_RATE * FRAME_MS // 1000
"""Samples per frame the detector judges."""
CALIBRATION_FRAMES = 5
"""The first 100 ms set the noise floor; nothing in them starts speech by itself."""
FLOOR_WINDOW_FRAMES = 150
"""The noise floor is the quietest frame of the last 3 s."""
MIN_FLOOR_DB = -70.0

EndReason = Literal["silence", "stop", "max_length"]


def rms_of(frame: np.ndarray) -> float:
    """A frame's root-mean-square amplitude (full scale: 1)."""
    return float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) if len(frame) else 0.0


def level_db(rms: float) -> float:
    """An RMS level in dBFS (-100 for digital silence)."""
    return 20 * math.log10(max(rms, 1e-5))


@dataclass(frozen=True, slots=True)
class SpeechBegan:
    """The detector heard speech begin; ``at`` is its ``time.monotonic()``, estimated."""

    at: float


@dataclass(frozen=True, slots=True, eq=False)
class Utterance:
    """One stretch of speech, from the pre-roll before it to the silence after it."""

    samples: np.ndarray
    """16 kHz mono float32."""
    ended_by: EndReason
    """silence (the user stopped talking), stop (asked to), or max_length."""
    speech_started_at: float
    """``time.monotonic()`` of the first frame heard as speech (estimated)."""
    speech_ended_at: float
    """``time.monotonic()`` of the last frame heard as speech (estimated)."""
    ended_at: float
    """``time.monotonic()`` when the end was decided."""
    saved_to: Path | None = None
    """The WAV it was also written to (listen.save_dir), if any."""
    sample_rate: int = field(default=LISTEN_RATE)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def clip(self) -> Clip:
        return Clip(self.samples, self.sample_rate)

    def wav(self) -> bytes:
        """A 16-bit mono WAV of the utterance."""
        return encode_wav(self.clip())


class EnergyVad:
    """Decides, frame by frame, whether someone is talking (see the module's docstring)."""

    def __init__(self, *, threshold_db: float, min_speech_frames: int, end_silence_frames: int):
        self.threshold_db = threshold_db
        self.min_speech_frames = max(1, min_speech_frames)
        self.end_silence_frames = max(1, end_silence_frames)
        self._levels: deque[float] = deque(maxlen=FLOOR_WINDOW_FRAMES)
        self.in_speech = False
        self.onset = 0
        """Frames in a row loud enough to start speech (while not in speech)."""
        self.silence = 0
        """Frames in a row quiet enough to end it (while in speech)."""

    @property
    def floor_db(self) -> float | None:
        """The room's level (None while calibrating)."""
        if len(self._levels) < CALIBRATION_FRAMES:
            return None
        return max(MIN_FLOOR_DB, min(self._levels))

    def step(self, db: float) -> Literal["start", "end"] | None:
        """Judge the next frame's level: "start" when it completes an onset (the speech began
        ``min_speech_frames`` frames ago), "end" when it completes the closing silence."""
        floor = self.floor_db
        self._levels.append(db)
        if floor is None:
            return None
        if self.in_speech:
            return self._speaking(db, floor)
        return self._waiting(db, floor)

    def _waiting(self, db: float, floor: float) -> Literal["start"] | None:
        if db < floor + self.threshold_db:
            self.onset = 0
            return None
        self.onset += 1
        if self.onset < self.min_speech_frames:
            return None
        self.in_speech, self.silence = True, 0
        return "start"

    def _speaking(self, db: float, floor: float) -> Literal["end"] | None:
        if db >= floor + self.threshold_db / 2:
            self.silence = 0
            return None
        self.silence += 1
        if self.silence < self.end_silence_frames:
            return None
        self.reset()
        return "end"

    def reset(self) -> None:
        """Back to waiting for speech (the noise floor is kept)."""
        self.in_speech = False
        self.onset = 0
        self.silence = 0


class UtteranceCutter:
    """Audio in, ``SpeechBegan`` and ``Utterance`` out (see the module's docstring)."""

    def __init__(self, listen: ListenSettings) -> None:
        self.vad = EnergyVad(
            threshold_db=listen.speech_threshold_db,
            min_speech_frames=_frames_of(listen.min_speech_ms),
            end_silence_frames=_frames_of(listen.end_silence_ms),
        )
        self._max_frames = _frames_of(listen.max_utterance_s * 1000)
        # Before a start: the pre-roll and the onset frames, the oldest dropped as they go.
        self._recent: deque[np.ndarray] = deque(
            maxlen=_frames_of(listen.pre_roll_ms) + self.vad.min_speech_frames
        )
        self._speech: list[np.ndarray] = []
        self._speech_frames = 0
        self._started_at = 0.0
        self._last_voiced_at = 0.0
        self._pending = np.zeros(0, dtype=np.float32)
        self.level = 0.0
        """The latest frame's loudness, 0..1, for a meter."""

    @property
    def in_speech(self) -> bool:
        return self.vad.in_speech

    def feed(self, block: np.ndarray, now: float | None = None) -> list[SpeechBegan | Utterance]:
        """Take the next samples (16 kHz mono float32) that arrived at ``now``
        (``time.monotonic()``); returns what happened in them, in order."""
        now = time.monotonic() if now is None else now
        data = np.concatenate((self._pending, block)) if len(self._pending) else block
        whole = len(data) // FRAME
        self._pending = data[whole * FRAME :].copy()
        events: list[SpeechBegan | Utterance] = []
        for index in range(whole):
            at = now - (whole - 1 - index) * FRAME_MS / 1000
            event = self._frame(data[index * FRAME : (index + 1) * FRAME], at)
            if event is not None:
                events.append(event)
        return events

    def _frame(self, frame: np.ndarray, at: float) -> SpeechBegan | Utterance | None:
        rms = rms_of(frame)
        db = level_db(rms)
        self.level = meter(rms)
        was_speaking = self.vad.in_speech
        decision = self.vad.step(db)
        if not was_speaking:
            self._recent.append(frame)
            if decision != "start":
                return None
            self._started_at = at - (self.vad.min_speech_frames - 1) * FRAME_MS / 1000
            self._last_voiced_at = at
            self._speech = list(self._recent)
            self._speech_frames = self.vad.min_speech_frames
            self._recent.clear()
            return SpeechBegan(self._started_at)
        self._speech.append(frame)
        self._speech_frames += 1
        if decision == "end":
            return self._cut("silence", at)
        if self.vad.silence == 0:
            self._last_voiced_at = at
        if self._speech_frames >= self._max_frames:
            self.vad.reset()
            return self._cut("max_length", at)
        return None

    def finish(self, now: float | None = None) -> Utterance | None:
        """Stop here: the utterance under way (None when no speech had begun)."""
        if not self.vad.in_speech:
            return None
        self.vad.reset()
        return self._cut("stop", time.monotonic() if now is None else now)

    def reset(self) -> None:
        """Forget everything heard (not the noise floor): waiting for speech again."""
        self.vad.reset()
        self._recent.clear()
        self._speech = []
        self._pending = np.zeros(0, dtype=np.float32)

    def _cut(self, reason: EndReason, at: float) -> Utterance:
        samples = np.concatenate(self._speech).astype(np.float32, copy=False)
        self._speech = []
        return Utterance(samples, reason, self._started_at, self._last_voiced_at, at)


def _frames_of(milliseconds: float) -> int:
    return max(0, round(milliseconds / FRAME_MS))
