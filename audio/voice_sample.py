"""Checks on a voice sample before anything is saved: real audio, 3–30 s, at most 10 MB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from config import check_voice_name as voice_name_rule

from .errors import VoiceSampleError
from .pcm import Clip, decode_audio, encode_wav

MIN_SECONDS = 3.0
MAX_SECONDS = 30.0
MAX_BYTES = 10 * 1024 * 1024
# Quieter than this (RMS, full scale = 1) is silence or a dead microphone, not a voice.
MIN_RMS = 0.003


@dataclass(frozen=True, slots=True)
class VoiceSample:
    """A checked voice sample, re-encoded as a mono 16-bit WAV (what gets saved and sent)."""

    wav: bytes
    transcript: str
    duration_s: float
    sample_rate: int


def check_voice_name(name: str) -> str:
    """``name`` stripped, or VoiceSampleError if it cannot name a voice (config's one rule:
    an id Fish Speech accepts, and a file name that stays inside the voices folder)."""
    try:
        return voice_name_rule(name)
    except ValueError as exc:
        raise VoiceSampleError(f"'{name}' {exc}") from None


def read_voice_sample_file(path: Path) -> bytes:
    """The bytes of a voice sample file, refusing missing, unreadable or oversized files
    before reading them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise VoiceSampleError(f"{path}: no such file") from None
    except OSError as exc:
        raise VoiceSampleError(f"{path}: cannot read it ({exc.strerror})") from None
    if path.is_dir():
        raise VoiceSampleError(f"{path} is a directory, not an audio file")
    _check_size(size, str(path))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise VoiceSampleError(f"{path}: cannot read it ({exc.strerror})") from None


def check_voice_sample(
    audio: bytes, transcript: str, *, source: str = "the voice sample"
) -> VoiceSample:
    """Validate a voice sample and its transcript; raises VoiceSampleError saying what to fix."""
    words = " ".join(transcript.split())
    if not words:
        raise VoiceSampleError(
            "the transcript is empty: give the exact words spoken in the sample (--text)"
        )
    _check_size(len(audio), source)
    try:
        clip = decode_audio(audio)
    except ValueError as exc:
        raise VoiceSampleError(
            f"{source} is not an audio file that can be read (WAV, FLAC, OGG or MP3): {exc}"
        ) from None
    duration = clip.duration_s
    if duration < MIN_SECONDS:
        raise VoiceSampleError(
            f"{source} is {duration:.1f} s long; a voice sample needs "
            f"{MIN_SECONDS:g}–{MAX_SECONDS:g} s of clear speech"
        )
    if duration > MAX_SECONDS:
        raise VoiceSampleError(
            f"{source} is {duration:.1f} s long; a voice sample needs "
            f"{MIN_SECONDS:g}–{MAX_SECONDS:g} s of clear speech (trim it)"
        )
    if not np.isfinite(clip.samples).all():
        raise VoiceSampleError(f"{source} is corrupt: it holds invalid sample values")
    rms = float(np.sqrt(np.mean(np.square(clip.samples, dtype=np.float64))))
    if rms < MIN_RMS:
        raise VoiceSampleError(
            f"{source} is silent; record the voice again closer to the microphone"
        )
    peak = float(np.max(np.abs(clip.samples)))
    samples = clip.samples if peak <= 1.0 else clip.samples / peak
    wav = encode_wav(Clip(samples, clip.sample_rate))
    return VoiceSample(wav=wav, transcript=words, duration_s=duration, sample_rate=clip.sample_rate)


def _check_size(size: int, source: str) -> None:
    if size == 0:
        raise VoiceSampleError(f"{source} is empty")
    if size > MAX_BYTES:
        raise VoiceSampleError(
            f"{source} is {size / 1024 / 1024:.1f} MB; a voice sample may be at most "
            f"{MAX_BYTES // 1024 // 1024} MB (3–30 s of speech is far less)"
        )
