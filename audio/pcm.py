"""Audio as numbers: decode files, encode WAV, resample, and read streamed 16-bit PCM.

Everything here works on mono float32 samples in [-1, 1]; that is what the player plays.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .errors import TTSBadResponse


@dataclass(frozen=True, slots=True, eq=False)
class Clip:
    """Mono float32 samples at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def __len__(self) -> int:
        return len(self.samples)


def to_mono_float32(data: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) of any dtype → (frames,) float32, channels averaged."""
    samples = np.asarray(data)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32)


def decode_audio(data: bytes) -> Clip:
    """Decode a whole audio file (WAV, FLAC, OGG, MP3, ...) with soundfile.

    Raises ValueError (with soundfile's message) when the bytes are not audio it can read.
    """
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, TypeError) as exc:
        raise ValueError(str(exc).replace("<_io.BytesIO object", "<bytes").strip()) from None
    return Clip(to_mono_float32(samples), int(rate))


def encode_wav(clip: Clip) -> bytes:
    """A 16-bit PCM mono WAV file."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, clip.samples, clip.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Linear-interpolation resampling: plenty for speech on its way to a speaker."""
    if source_rate == target_rate or len(samples) == 0:
        return samples
    count = max(1, round(len(samples) * target_rate / source_rate))
    positions = np.arange(count, dtype=np.float64) * (source_rate / target_rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def concatenate(clips: Iterable[Clip], sample_rate: int | None = None) -> Clip:
    """Join clips into one at ``sample_rate`` (default: the first clip's rate)."""
    clips = list(clips)
    rate = sample_rate or (clips[0].sample_rate if clips else 44100)
    parts = [resample(clip.samples, clip.sample_rate, rate) for clip in clips]
    joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return Clip(joined.astype(np.float32, copy=False), rate)


class PcmStreamDecoder:
    """Turns a streamed /v1/tts body into clips as the bytes arrive.

    Fish Speech's streaming answer is headerless 16-bit mono PCM at the model's rate (it says
    audio/wav but drops its WAV header); some builds do send the header. Both are read: a body
    starting with ``RIFF`` is parsed for its rate and channel count, anything else is taken as
    raw PCM at ``default_rate``. Chunks may split samples anywhere.
    """

    _HEADER_LIMIT = 4096

    def __init__(self, default_rate: int) -> None:
        self.sample_rate = default_rate
        self.channels = 1
        self._pending = b""
        self._in_data = False
        self._decided = False

    def feed(self, chunk: bytes) -> Clip | None:
        """Add bytes; returns the whole samples now available (None when none are)."""
        self._pending += chunk
        if not self._decided:
            if len(self._pending) < 4:
                return None
            self._decided = True
            self._in_data = not self._pending.startswith(b"RIFF")
        if not self._in_data and not self._read_header():
            return None
        frame_bytes = 2 * self.channels
        usable = len(self._pending) - len(self._pending) % frame_bytes
        if usable == 0:
            return None
        data, self._pending = self._pending[:usable], self._pending[usable:]
        pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if self.channels > 1:
            pcm = pcm.reshape(-1, self.channels).mean(axis=1).astype(np.float32)
        return Clip(pcm, self.sample_rate)

    def finish(self) -> None:
        """The body ended: complain if it stopped inside the header."""
        if self._decided and not self._in_data:
            raise TTSBadResponse("the TTS server's audio stream ended inside its WAV header")

    def _read_header(self) -> bool:
        """Parse RIFF chunks up to ``data``; False while more bytes are needed."""
        buffer = self._pending
        if len(buffer) < 12:
            return False
        if buffer[8:12] != b"WAVE":
            raise TTSBadResponse("the TTS server streamed a RIFF file that is not WAV")
        offset = 12
        while True:
            if len(buffer) < offset + 8:
                break
            chunk_id = buffer[offset : offset + 4]
            (size,) = struct.unpack("<I", buffer[offset + 4 : offset + 8])
            if chunk_id == b"data":
                self._pending = buffer[offset + 8 :]
                self._in_data = True
                return True
            if len(buffer) < offset + 8 + size:
                break
            if chunk_id == b"fmt ":
                self._read_format(buffer[offset + 8 : offset + 8 + size])
            offset += 8 + size + (size & 1)
        if len(buffer) > self._HEADER_LIMIT:
            raise TTSBadResponse("the TTS server's audio stream has no WAV data chunk")
        return False

    def _read_format(self, fmt: bytes) -> None:
        if len(fmt) < 16:
            raise TTSBadResponse("the TTS server streamed a WAV header with a short fmt chunk")
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag not in (1, 0xFFFE) or bits != 16:
            raise TTSBadResponse(
                f"the TTS server streamed {bits}-bit audio (format {tag}); "
                "only 16-bit PCM can be streamed"
            )
        self.channels = max(1, channels)
        self.sample_rate = rate
