"""Real speech for the hearing tests: WAVs spoken by ``espeak-ng``, English and Korean.

``speak_to_wav(text, voice, path)`` runs espeak-ng once; ``SpeechSamples.make(folder)`` writes
the two sentences the tests use (a session fixture keeps them for the whole run). Skips (fails
under TERMMATE_REQUIRE_SYSTEM=1) when espeak-ng is missing. ``joined`` strings WAVs together
with silence between them; ``room_noise`` is the steady hiss of a quiet room.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from .system import require_executable

ENGLISH = "Hello termmate, what is on my screen today?"
KOREAN = "안녕하세요, 오늘 날씨가 정말 좋네요."


def speak_to_wav(text: str, voice: str, path: Path) -> Path:
    """``text`` spoken by espeak-ng with ``voice`` (en, ko, ...) into the WAV ``path``
    (22050 Hz, 16-bit mono)."""
    espeak = require_executable("espeak-ng", "apt-get install espeak-ng")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [espeak, "-v", voice, "-w", str(path), text], check=True, capture_output=True, timeout=60
    )
    return path


@dataclass(frozen=True)
class SpeechSamples:
    """Two spoken sentences."""

    english: Path
    korean: Path

    @classmethod
    def make(cls, folder: Path) -> SpeechSamples:
        return cls(
            english=speak_to_wav(ENGLISH, "en", folder / "english.wav"),
            korean=speak_to_wav(KOREAN, "ko", folder / "korean.wav"),
        )


def joined(parts: list[Path], gap_s: float, path: Path) -> Path:
    """The WAVs ``parts`` (of one sample rate) one after another, ``gap_s`` of digital silence
    before, between and after them, written to ``path``."""
    clips = [soundfile.read(part, dtype="float32") for part in parts]
    rate = clips[0][1]
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    pieces = [gap]
    for samples, _ in clips:
        pieces += [samples, gap]
    soundfile.write(path, np.concatenate(pieces), rate, subtype="PCM_16")
    return path


def room_noise(seconds: float, level_dbfs: float, path: Path, *, rate: int = 22050) -> Path:
    """White noise at ``level_dbfs`` RMS for ``seconds``: a room with a fan, no one talking."""
    rms = 10 ** (level_dbfs / 20)
    noise = np.random.default_rng(5).standard_normal(int(seconds * rate)) * rms
    soundfile.write(path, noise.astype(np.float32), rate, subtype="PCM_16")
    return path


def loud_span_s(samples: np.ndarray, rate: int, threshold: float = 0.02) -> tuple[float, float]:
    """(first, last) moment, in seconds, where ``samples`` are louder than ``threshold``."""
    loud = np.nonzero(np.abs(samples) > threshold)[0]
    if not len(loud):
        raise AssertionError("nothing louder than the threshold")
    return loud[0] / rate, loud[-1] / rate
