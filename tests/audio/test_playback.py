"""The player through a real PulseAudio null sink, recorded back from the sink's monitor."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from audio.errors import VoiceOff
from audio.pcm import Clip
from audio.player import Player
from tests.support.cli import run_python
from tests.support.pulse import RATE, MonitorRecorder, PulseServer, frozen

pytestmark = pytest.mark.timeout(60)


def tone(seconds: float, *, rate: int = 44100, frequency: float = 440.0) -> Clip:
    t = np.arange(int(seconds * rate)) / rate
    return Clip((0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate)


@pytest.fixture
def player(pulse: PulseServer) -> Iterator[Player]:
    player = Player()
    player.open()
    yield player
    player.close()


def _loud_seconds(recorder: MonitorRecorder, since: int = 0) -> float:
    loud = recorder.loud_frames()
    return int(np.sum(loud >= since)) * 0.01


def test_sound_arrives(player: Player, recorder: MonitorRecorder) -> None:
    ends: list[bool] = []
    done = threading.Event()
    start = recorder.frames()
    player.play(tone(0.6), on_end=lambda played: (ends.append(played), done.set()))
    first = recorder.wait_for_sound(timeout=3, since=start)
    assert (first - start) / RATE < 0.5, "sound should start at once"
    assert done.wait(3)
    recorder.wait_for_silence(timeout=3)
    assert ends == [True]
    assert _loud_seconds(recorder, start) == pytest.approx(0.6, abs=0.06)
    loud = recorder.samples()[first : first + int(0.5 * RATE)]
    assert np.sqrt(np.mean(loud**2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.15)
    spectrum = np.abs(np.fft.rfft(loud))
    assert np.argmax(spectrum) * RATE / len(loud) == pytest.approx(440, abs=3)


def test_barge_in_silences_within_100_ms(player: Player, recorder: MonitorRecorder) -> None:
    ends: list[bool] = []
    player.play(tone(3.0), on_end=ends.append)
    player.play(tone(3.0, frequency=660), on_end=ends.append)
    recorder.wait_for_sound(timeout=3)
    time.sleep(0.4)
    stopped = time.monotonic()
    player.stop()
    time.sleep(0.5)
    tail_ms = recorder.sound_after_ms(stopped)
    print(f"barge-in: sound stopped {tail_ms:.0f} ms after stop()")
    assert tail_ms <= 100, f"sound went on {tail_ms:.0f} ms after stop()"
    assert ends == [False, False]
    assert not player.busy
    # The player keeps working after a barge-in.
    again = recorder.frames()
    player.play(tone(0.3))
    recorder.wait_for_sound(timeout=3, since=again)
    recorder.wait_for_silence(timeout=3)
    assert _loud_seconds(recorder, again) == pytest.approx(0.3, abs=0.05)


def test_mute_silences_and_unmute_resumes(player: Player, recorder: MonitorRecorder) -> None:
    done = threading.Event()
    start = recorder.frames()
    player.play(tone(1.2), on_end=lambda _played: done.set())
    recorder.wait_for_sound(timeout=3)
    time.sleep(0.2)
    muted_at = recorder.frames()
    player.muted = True
    time.sleep(0.4)
    unmuted_at = recorder.frames()
    player.muted = False
    assert done.wait(3)
    recorder.wait_for_silence(timeout=3)
    loud = recorder.loud_frames()
    silent_span = loud[(loud > muted_at + 0.15 * RATE) & (loud < unmuted_at)]
    assert len(silent_span) == 0, "muted output must be silent"
    assert np.any(loud > unmuted_at), "unmuting resumes the speech"
    # Muted time still counts: the clip ends on schedule, not 0.4 s late.
    assert _loud_seconds(recorder, start) < 1.0


def test_clips_play_back_to_back_at_any_rate(player: Player, recorder: MonitorRecorder) -> None:
    order: list[str] = []
    done = threading.Event()
    start = recorder.frames()
    player.play(tone(0.4, rate=22050, frequency=330), on_start=lambda: order.append("a"))
    player.play(
        tone(0.4, rate=48000, frequency=550),
        on_start=lambda: order.append("b"),
        on_end=lambda _played: done.set(),
    )
    assert done.wait(3)
    recorder.wait_for_silence(timeout=3)
    assert order == ["a", "b"]
    first = int(recorder.loud_frames()[recorder.loud_frames() >= start][0])
    samples = recorder.samples()
    for offset, frequency in ((0.1, 330), (0.5, 550)):
        part = samples[first + int(offset * RATE) : first + int((offset + 0.2) * RATE)]
        spectrum = np.abs(np.fft.rfft(part))
        assert np.argmax(spectrum) * RATE / len(part) == pytest.approx(frequency, abs=6)
    assert _loud_seconds(recorder, start) == pytest.approx(0.8, abs=0.06)


def test_stream_stops_when_idle_and_restarts(pulse: PulseServer, recorder: MonitorRecorder) -> None:
    player = Player(idle_stop_s=0.2)
    try:
        player.play(tone(0.2))
        recorder.wait_for_sound(timeout=3)
        assert player.streaming
        time.sleep(0.8)
        assert not player.streaming  # it let itself stop
        again = recorder.frames()
        player.play(tone(0.3))
        recorder.wait_for_sound(timeout=3, since=again)
        recorder.wait_for_silence(timeout=3)
        assert _loud_seconds(recorder, again) == pytest.approx(0.3, abs=0.05)
    finally:
        player.close()


@pytest.fixture
def own_pulse(private_pulse: PulseServer, monkeypatch: pytest.MonkeyPatch) -> PulseServer:
    """Streams opened from now on go to a private PulseAudio, which a test may freeze."""
    monkeypatch.setenv("PULSE_SERVER", private_pulse.server)
    return private_pulse


def test_stop_returns_at_once_while_the_sound_server_hangs(own_pulse: PulseServer) -> None:
    # Esc calls stop() on the TUI's event loop: it must not wait for the sound server.
    player = Player()
    started = threading.Event()
    ends: list[bool] = []
    try:
        player.open()
        player.play(tone(3.0), on_start=started.set, on_end=ends.append)
        assert started.wait(5)
        with frozen(own_pulse, at_most_s=2.0):
            began = time.monotonic()
            player.stop()
            took = time.monotonic() - began
            assert ends == [False] and not player.busy
        assert took < 0.05, f"stop() waited {took * 1000:.0f} ms for the hung sound server"
        # Once the server answers again, the player plays on.
        done = threading.Event()
        player.play(tone(0.3), on_end=lambda played: (ends.append(played), done.set()))
        assert done.wait(5) and ends == [False, True]
    finally:
        player.close()


def test_stop_and_play_never_wait_for_the_output_being_opened(own_pulse: PulseServer) -> None:
    # VoiceService.start() opens the output on a worker thread while the TUI runs.
    player = Player()
    opened = threading.Event()
    ends: list[bool] = []
    done = threading.Event()
    try:
        with frozen(own_pulse, at_most_s=2.0):
            opener = threading.Thread(target=lambda: (player.open(), opened.set()), daemon=True)
            opener.start()
            time.sleep(0.3)  # the opener now waits for the frozen server
            assert not opened.is_set()
            began = time.monotonic()
            player.stop()
            player.play(tone(0.3), on_end=lambda played: (ends.append(played), done.set()))
            took = time.monotonic() - began
        assert took < 0.05, f"stop() and play() waited {took * 1000:.0f} ms for open()"
        opener.join(5)
        assert opened.is_set()
        assert done.wait(5) and ends == [True], "the clip queued meanwhile plays once it opened"
    finally:
        player.close()


def _open_player_in_fresh_process(code: str, env: dict[str, str] | None = None) -> str:
    script = (
        "import sys\n"
        f"{code}\n"
        "from audio.player import Player\n"
        "from audio.errors import VoiceOff\n"
        "try:\n"
        "    Player().open()\n"
        "except VoiceOff as exc:\n"
        "    print('VOICE OFF:', exc.reason)\n"
        "else:\n"
        "    print('OPENED')\n"
    )
    done = run_python("-c", script, env=env, timeout_s=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_no_portaudio_library_turns_voice_off() -> None:
    # As on a machine without libportaudio2: the library cannot be found.
    out = _open_player_in_fresh_process(
        "import ctypes.util\n"
        "_find = ctypes.util.find_library\n"
        "ctypes.util.find_library = lambda n: None if 'portaudio' in n else _find(n)\n"
        "sys.modules['_sounddevice_data'] = None"
    )
    assert out.startswith("VOICE OFF: the PortAudio library is not installed")
    assert "libportaudio2" in out


def test_no_output_device_turns_voice_off(tmp_path) -> None:
    import os

    # No sound card here, and no sound server listening: PortAudio finds no output.
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nobody-home"}
    out = _open_player_in_fresh_process("", env)
    assert out.startswith("VOICE OFF:")
    assert "no audio output device" in out or "PortAudio library is not installed" in out


def test_missing_named_device_turns_voice_off(pulse: PulseServer) -> None:
    with pytest.raises(
        VoiceOff, match=r"audio output device 'no-such-card' not found.*output_device"
    ):
        Player(device="no-such-card").open()
