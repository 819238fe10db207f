"""Fixtures for the voice: the loopback Fish Speech server, PulseAudio, voice samples."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from config import TTSSettings
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import MonitorRecorder, PulseServer, start_pulse, use_for_sounddevice
from tests.support.system import missing


def tone_file(
    seconds: float,
    *,
    rate: int = 22050,
    channels: int = 1,
    amplitude: float = 0.3,
    frequency: float = 220.0,
    file_format: str = "WAV",
) -> bytes:
    """A real audio file: a sine tone (``amplitude`` 0 gives silence)."""
    t = np.arange(int(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * frequency * t)
    data = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format=file_format)
    return buffer.getvalue()


def tts_settings(server: FishSpeechServer, **overrides: Any) -> TTSSettings:
    return TTSSettings(url=server.url, **overrides)


@pytest.fixture
def fish_server() -> Iterator[FishSpeechServer]:
    with FishSpeechServer() as server:
        yield server


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A private PulseAudio whose null sink is this process's default audio device."""
    server = start_pulse(tmp_path_factory.mktemp("pulse"))
    previous = os.environ.get("PULSE_SERVER")
    try:
        use_for_sounddevice(server)
        try:
            import sounddevice
        except OSError as exc:
            missing(f"PortAudio is not installed ({exc}): apt-get install libportaudio2")
        try:
            sounddevice.query_devices(kind="output")
        except (ValueError, sounddevice.PortAudioError) as exc:
            missing(
                f"PortAudio sees no PulseAudio output ({exc}): "
                "apt-get install libasound2-plugins (the ALSA pulse plugin)"
            )
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = previous


@pytest.fixture
def private_pulse(pulse: PulseServer, tmp_path: Path) -> Iterator[PulseServer]:
    """A PulseAudio of this test's own, safe to freeze or break (the session's stays as it is).

    Point a process at it with its ``server`` as PULSE_SERVER: the ALSA pulse plugin reads
    that whenever a stream is opened.
    """
    server = start_pulse(tmp_path / "pulse")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def recorder(pulse: PulseServer) -> Iterator[MonitorRecorder]:
    """What reaches the null sink, recorded from its monitor for the length of the test."""
    with pulse.recorder() as recorder:
        yield recorder


@pytest.fixture
def voices_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "voices"
