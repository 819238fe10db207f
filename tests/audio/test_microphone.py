"""Recording a voice sample: the null sink's monitor is the default input, so what the
player sends out is what the "microphone" hears."""

from __future__ import annotations

import asyncio
import io
import os
import time

import numpy as np
import pytest
import soundfile

from audio.microphone import meter, record_voice_sample
from audio.pcm import Clip
from audio.player import Player
from audio.voice_sample import check_voice_sample
from tests.support.cli import run_python
from tests.support.pulse import PulseServer

pytestmark = pytest.mark.timeout(60)


def test_meter_scale() -> None:
    assert meter(0.0) == 0.0
    assert meter(1.0) == 1.0
    assert meter(0.001) == pytest.approx(0.0)
    assert meter(0.1) == pytest.approx(2 / 3)


async def test_record_a_sample_that_clones(pulse: PulseServer) -> None:
    rate = 44100
    t = np.arange(int(4.0 * rate)) / rate
    player = Player()
    countdown: list[int] = []
    levels: list[tuple[float, float]] = []
    try:
        player.play(Clip((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate))
        wav = await record_voice_sample(
            seconds=3.2,
            countdown=2,
            tick_s=0.05,
            on_countdown=countdown.append,
            on_level=lambda level, elapsed: levels.append((level, elapsed)),
        )
    finally:
        player.close()
    assert countdown == [2, 1]
    assert len(levels) > 20
    assert max(level for level, _ in levels) > 0.7
    assert levels[-1][1] == pytest.approx(3.2, abs=0.1)
    data, recorded_rate = soundfile.read(io.BytesIO(wav))
    assert recorded_rate == rate and data.ndim == 1
    assert len(data) / rate == pytest.approx(3.2, abs=0.15)
    assert np.sqrt(np.mean(data[rate // 2 :] ** 2)) > 0.1
    sample = check_voice_sample(wav, "what was said")  # `voice record` clones what it records
    assert sample.duration_s == pytest.approx(3.2, abs=0.15)


async def test_stop_early(pulse: PulseServer) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    started = time.monotonic()
    wav = await record_voice_sample(seconds=5, countdown=0, stop=stop)
    assert time.monotonic() - started < 1.0
    assert soundfile.info(io.BytesIO(wav)).duration < 0.6


def test_no_microphone(tmp_path) -> None:
    script = (
        "import asyncio\n"
        "from audio.microphone import record_voice_sample\n"
        "from audio.errors import MicrophoneUnavailable\n"
        "try:\n"
        "    asyncio.run(record_voice_sample(seconds=1, countdown=0))\n"
        "except MicrophoneUnavailable as exc:\n"
        "    print('NO MIC:', exc.reason)\n"
    )
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nobody-home"}
    done = run_python("-c", script, env=env, timeout_s=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("NO MIC:")
    assert "no microphone found" in done.stdout or "PortAudio" in done.stdout
