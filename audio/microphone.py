"""Record a voice sample from the microphone (``termmate voice record``).

A countdown, then recording with a level meter the CLI draws; the result is a WAV ready for
voice cloning (which checks it like any other sample).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .device import import_sounddevice, parse_device, quiet_alsa
from .errors import MicrophoneUnavailable
from .pcm import Clip, encode_wav, to_mono_float32

CountdownCallback = Callable[[int], None]
"""Called with 3, 2, 1 ... before recording starts."""
LevelCallback = Callable[[float, float], None]
"""Called about 20 times a second with (meter 0..1, seconds recorded so far)."""


def meter(rms: float) -> float:
    """A loudness meter: -60 dBFS and below → 0, full scale → 1."""
    if rms <= 1e-6:
        return 0.0
    return min(1.0, max(0.0, (20 * math.log10(rms) + 60) / 60))


async def record_voice_sample(
    *,
    seconds: float = 12.0,
    countdown: int = 3,
    tick_s: float = 1.0,
    device: str | int | None = None,
    sample_rate: int = 44100,
    on_countdown: CountdownCallback | None = None,
    on_level: LevelCallback | None = None,
    stop: asyncio.Event | None = None,
) -> bytes:
    """Record up to ``seconds`` (less if ``stop`` is set) and return a mono 16-bit WAV.

    Raises MicrophoneUnavailable when there is no PortAudio or no input device.
    """
    sd = import_sounddevice(MicrophoneUnavailable)
    device = parse_device(device)
    try:
        sd.query_devices(device, kind="input")
    except (ValueError, sd.PortAudioError) as exc:
        where = "" if device is None else f" '{device}'"
        raise MicrophoneUnavailable(
            f"no microphone{where} found ({exc}); set [audio] input_device to a name or "
            "index from `python -m sounddevice`"
        ) from None

    for remaining in range(countdown, 0, -1):
        if on_countdown is not None:
            on_countdown(remaining)
        await asyncio.sleep(tick_s)

    recorder = _Recorder()
    try:
        with quiet_alsa():
            stream = sd.InputStream(
                device=device,
                samplerate=sample_rate,
                channels=1,
                dtype="float32",
                latency=0.05,  # small blocks: a lively level meter
                callback=recorder.take,
            )
        stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        raise MicrophoneUnavailable(f"cannot open the microphone: {exc}") from None
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            if stop is not None and stop.is_set():
                break
            if on_level is not None:
                on_level(meter(recorder.level), elapsed)
            await asyncio.sleep(min(0.05, max(0.0, seconds - elapsed)))
    finally:
        await asyncio.to_thread(_close, stream)
    samples = recorder.samples()
    return await asyncio.to_thread(encode_wav, Clip(samples, int(stream.samplerate)))


class _Recorder:
    """Collects blocks on the audio thread and keeps the latest block's loudness."""

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.level = 0.0

    def take(self, indata: np.ndarray, _frames: int, _time: Any, _status: Any) -> None:
        block = to_mono_float32(indata).copy()
        with self._lock:
            self._blocks.append(block)
        self.level = float(np.sqrt(np.mean(np.square(block)))) if len(block) else 0.0

    def samples(self) -> np.ndarray:
        with self._lock:
            if not self._blocks:
                return np.zeros(0, dtype=np.float32)
            return np.concatenate(self._blocks)


def _close(stream: Any) -> None:
    stream.stop()
    stream.close()
