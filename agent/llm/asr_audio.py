"""Audio on its way to a speech recogniser, checked once, in the form each backend wants; and
what a recogniser hands back (``Heard``).

Audio comes as an encoded file (a WAV, FLAC, OGG or MP3, e.g. an upload) or as 16 kHz mono
float32 samples (what the microphone records). The remote backend uploads a file: the one it
was given, else a 16-bit WAV of the samples. The local one needs samples at 16 kHz: the ones
it was given, else the file decoded and resampled the way faster-whisper itself decodes a file
(PyAV), on the recogniser's own thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np

from audio.pcm import Clip, encode_wav, resample

SAMPLE_RATE = 16_000
"""What Whisper listens at."""

AudioInput = bytes | np.ndarray | Clip
"""An encoded audio file, 16 kHz mono float32 samples, or a Clip at any rate."""

BadAudioKind = Literal["not_audio", "empty", "too_long"]

_MEDIA_TYPES = {"WAV": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg", "MP3": "audio/mpeg"}


class BadAudio(Exception):
    """Audio that cannot be transcribed; ``reason`` says why and what to do, ``kind`` is
    "not_audio", "empty" or "too_long" (an HTTP front end answers 400, 400 or 413)."""

    def __init__(self, kind: BadAudioKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Heard:
    """What a recogniser heard: the text, and the language it was in."""

    text: str
    language: str


@dataclass(frozen=True, slots=True, eq=False)
class SpeechAudio:
    """Checked audio: not empty, not too long, readable."""

    duration_s: float
    file: bytes | None = None
    """The encoded file as given (None: samples were given)."""
    file_format: str = "WAV"
    """soundfile's name for the file's format (WAV, FLAC, OGG, MP3)."""
    samples: np.ndarray | None = None
    """16 kHz mono float32 samples (None: a file was given)."""

    def upload(self) -> tuple[str, bytes, str]:
        """(file name, bytes, media type) for a multipart upload."""
        if self.file is not None:
            media = _MEDIA_TYPES.get(self.file_format, "application/octet-stream")
            return f"speech.{self.file_format.lower()}", self.file, media
        assert self.samples is not None
        return "speech.wav", encode_wav(Clip(self.samples, SAMPLE_RATE)), "audio/wav"

    def samples_16k(self) -> np.ndarray:
        """The samples at 16 kHz; decodes the file (call it off the event loop then)."""
        if self.samples is not None:
            return self.samples
        assert self.file is not None
        from faster_whisper.audio import decode_audio

        return decode_audio(io.BytesIO(self.file), sampling_rate=SAMPLE_RATE)


def check_audio(audio: AudioInput, *, max_s: float) -> SpeechAudio:
    """``audio`` checked and ready; BadAudio when it is not audio, empty, or longer than
    ``max_s`` seconds (listen.max_file_s)."""
    if isinstance(audio, bytes | bytearray | memoryview):
        checked = _check_file(bytes(audio))
    elif isinstance(audio, Clip):
        samples = resample(_mono(audio.samples), audio.sample_rate, SAMPLE_RATE)
        checked = _check_samples(samples)
    elif isinstance(audio, np.ndarray):
        checked = _check_samples(_mono(audio))
    else:
        raise BadAudio("not_audio", f"expected audio bytes or samples, not {type(audio).__name__}")
    if checked.duration_s > max_s:
        raise BadAudio(
            "too_long",
            f"the audio is {checked.duration_s:.1f} s long, longer than listen.max_file_s "
            f"({max_s:g} s); cut it, or raise TERMMATE_LISTEN__MAX_FILE_S",
        )
    return checked


def _check_file(data: bytes) -> SpeechAudio:
    import soundfile

    if not data:
        raise BadAudio("empty", "the audio file is empty (0 bytes)")
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.SoundFileError, RuntimeError, TypeError) as exc:
        detail = str(exc).replace("<_io.BytesIO object", "<bytes").strip()
        raise BadAudio(
            "not_audio", f"this is not audio termmate can read (WAV, FLAC, OGG or MP3): {detail}"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise BadAudio("empty", "the audio file holds no sound (0 samples)")
    return SpeechAudio(info.frames / info.samplerate, file=data, file_format=info.format)


def _check_samples(samples: np.ndarray) -> SpeechAudio:
    if samples.size == 0:
        raise BadAudio("empty", "the recording holds no sound (0 samples)")
    if not np.all(np.isfinite(samples)):
        raise BadAudio("not_audio", "the samples hold NaN or infinite values")
    return SpeechAudio(len(samples) / SAMPLE_RATE, samples=samples)


def _mono(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) of any number type → (frames,) float32."""
    array = np.asarray(samples)
    if array.ndim == 2:
        array = array.mean(axis=1)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
        raise BadAudio("not_audio", f"expected mono samples, got an array of shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)
