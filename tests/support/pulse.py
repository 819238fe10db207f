"""A private PulseAudio with a null sink, and a recorder of what reaches it.

``start_pulse(dir)`` runs ``pulseaudio`` (as any user, root included) on a socket in ``dir``
with one null sink, ``termmate_null``, as the default sink (its monitor is the default
source). Clients find it through PULSE_SERVER: sounddevice goes PortAudio → ALSA → the ALSA
pulse plugin (libasound2-plugins), which makes the ALSA ``default`` device PulseAudio whenever
a server is reachable.

A silent, low-latency ``pacat`` stream plays into the sink the whole time. An idle null sink
sleeps for up to two seconds between renders, so without it a new stream's first callback
stalls for a random part of that; with it the sink ticks every 10 ms like a sound card.
``start_pulse`` also waits out the one long render period a fresh null sink begins with.

``play_into(pulse, wav)`` plays a WAV into the sink with ``paplay``: since the monitor is the
default source, that is speaking into the microphone.

``MonitorRecorder`` records the sink's monitor with ``parec`` and keeps every frame with the
time it arrived, so tests can ask when sound started and stopped.

``second_sink(pulse, folder)`` adds another null sink and makes it a sounddevice output device
of its own name (an ALSA ``pulse`` PCM defined in an asoundrc under ``folder``): the companion's
voice can play there while the microphone, the first sink's monitor, hears only what the test
plays into it.

A real fault, for a private server only (the session's is shared): ``frozen(pulse)`` makes the
server stop answering (SIGSTOP) like a hung sound server.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .processes import terminate
from .system import missing, require_executable

SINK = "termmate_null"
RATE = 44100


@dataclass
class PulseServer:
    """A running private PulseAudio; ``server`` is the PULSE_SERVER value."""

    runtime_dir: Path
    process: subprocess.Popen[bytes]
    keepalive: subprocess.Popen[bytes]
    server: str
    sink: str = SINK

    @property
    def monitor(self) -> str:
        return f"{self.sink}.monitor"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PULSE_SERVER": self.server}

    def recorder(self) -> MonitorRecorder:
        return MonitorRecorder(self)

    def stop(self) -> None:
        for process in (self.keepalive, self.process):
            terminate(process, timeout_s=5)


def start_pulse(runtime_dir: Path) -> PulseServer:
    """Start PulseAudio with the null sink; skips (fails under TERMMATE_REQUIRE_SYSTEM=1) when
    pulseaudio, pactl, pacat or parec are missing."""
    daemon = require_executable("pulseaudio", "apt-get install pulseaudio")
    for tool in ("pactl", "pacat", "parec"):
        require_executable(tool, "apt-get install pulseaudio-utils")
    runtime_dir.mkdir(parents=True, exist_ok=True)
    socket_path = runtime_dir / "native"
    server = f"unix:{socket_path}"
    daemon_env = {
        **os.environ,
        "HOME": str(runtime_dir),  # its cookie and state go here, not in the real home
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "XDG_CONFIG_HOME": str(runtime_dir / "config"),
    }
    daemon_env.pop("PULSE_SERVER", None)
    log = (runtime_dir / "pulseaudio.log").open("wb")
    process = subprocess.Popen(
        [
            daemon,
            "--daemonize=no",
            "--exit-idle-time=-1",
            "-n",  # no default.pa: only the modules below
            "--use-pid-file=no",
            "--disable-shm=yes",
            "--realtime=no",
            "--high-priority=no",
            f"--load=module-native-protocol-unix socket={socket_path} auth-anonymous=1",
            f"--load=module-null-sink sink_name={SINK} rate={RATE} channels=1",
            "--log-target=stderr",
        ],
        env=daemon_env,
        stdout=log,
        stderr=log,
    )
    client_env = {**os.environ, "PULSE_SERVER": server}
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            missing(f"pulseaudio exited at start: {_tail(runtime_dir / 'pulseaudio.log')}")
        probe = subprocess.run(["pactl", "info"], env=client_env, capture_output=True, timeout=10)
        if probe.returncode == 0:
            break
        if time.monotonic() > deadline:
            process.kill()
            missing(f"pulseaudio did not answer: {_tail(runtime_dir / 'pulseaudio.log')}")
        time.sleep(0.1)
    keepalive = _keep_ticking(client_env, SINK)
    pulse = PulseServer(runtime_dir, process, keepalive, server)
    _wait_until_the_sink_ticks(pulse)
    return pulse


def _keep_ticking(env: dict[str, str], sink: str) -> subprocess.Popen[bytes]:
    """Play digital silence into ``sink`` until terminated (see the module's docstring)."""
    return subprocess.Popen(
        [
            "pacat",
            "--playback",
            f"--device={sink}",
            "--latency-msec=10",
            "--raw",
            "--format=s16le",
            "--channels=1",
            f"--rate={RATE}",
            "--client-name=termmate-test-keepalive",
            "/dev/zero",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def second_sink(
    pulse: PulseServer, folder: Path, name: str = "termmate_voice"
) -> Iterator[PulseServer]:
    """Another null sink, ``name``, that sounddevice (PortAudio → ALSA) can open as the output
    device ``name``; yields ``pulse`` as seen from that sink (its ``recorder()`` records the
    new sink's monitor, ``play_into`` plays there; do not ``stop()`` it). The default sink and
    source stay the first sink's. Undone at the end: the sink is removed and PortAudio rescans.

    PortAudio's ALSA back end lists only the PCMs ALSA's configuration names, so the sink
    gets one (``type pulse``) in an asoundrc that ALSA reads through XDG_CONFIG_HOME.
    """
    loaded = subprocess.run(
        [
            "pactl",
            "load-module",
            "module-null-sink",
            f"sink_name={name}",
            f"rate={RATE}",
            "channels=1",
        ],
        env=pulse.env(),
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    module = loaded.stdout.strip()
    config = folder / "alsa" / "asoundrc"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"pcm.{name} {{\n  type pulse\n  device {name}\n"
        f'  hint {{ show on description "termmate test sink {name}" }}\n}}\n'
    )
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(folder)
    use_for_sounddevice(pulse)  # PortAudio rescans: ALSA reads the new PCM
    there = dataclasses.replace(pulse, sink=name)
    keepalive = _keep_ticking(pulse.env(), name)
    try:
        _wait_until_the_sink_ticks(there)
        yield there
    finally:
        terminate(keepalive, timeout_s=5)
        subprocess.run(
            ["pactl", "unload-module", module], env=pulse.env(), capture_output=True, timeout=10
        )
        if previous is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = previous
        use_for_sounddevice(pulse)


def _wait_until_the_sink_ticks(pulse: PulseServer) -> None:
    """Block until the monitor delivers sound in real time.

    A freshly loaded null sink first sleeps through one long (up to 2 s) render period; a
    stream opened meanwhile stalls for the rest of it. Waiting it out here keeps that out
    of the tests' timings.
    """
    with pulse.recorder() as recorder:
        start, began = recorder.frames(), time.monotonic()
        while recorder.frames() - start < RATE // 5:  # 200 ms of steady recording
            if time.monotonic() - began > 10:
                pulse.stop()
                missing("the PulseAudio null sink does not run in real time")
            time.sleep(0.01)


@contextmanager
def frozen(pulse: PulseServer, at_most_s: float) -> Iterator[None]:
    """The server stops answering (SIGSTOP) until the block ends, or ``at_most_s`` has passed
    (so code that waits for the server cannot hang the test): a hung sound server. Every client
    call that needs an answer blocks meanwhile."""
    thaw = threading.Timer(at_most_s, os.kill, (pulse.process.pid, signal.SIGCONT))
    os.kill(pulse.process.pid, signal.SIGSTOP)
    thaw.start()
    try:
        yield
    finally:
        thaw.cancel()
        os.kill(pulse.process.pid, signal.SIGCONT)


def play_into(pulse: PulseServer, wav: Path) -> subprocess.Popen[bytes]:
    """Start playing ``wav`` into the null sink (speaking into the "microphone"); the process
    exits once the sink has played all of it."""
    paplay = require_executable("paplay", "apt-get install pulseaudio-utils")
    return subprocess.Popen(
        [paplay, f"--device={pulse.sink}", "--client-name=termmate-test-speaker", str(wav)],
        env=pulse.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def use_for_sounddevice(pulse: PulseServer) -> None:
    """Point this process's PortAudio at ``pulse`` (rescanning if it was loaded already)."""
    os.environ["PULSE_SERVER"] = pulse.server
    sounddevice = sys.modules.get("sounddevice")
    if sounddevice is not None:
        sounddevice._terminate()
        sounddevice._initialize()


@dataclass
class MonitorRecorder:
    """Records the null sink's monitor (mono float32) while it is open."""

    pulse: PulseServer
    rate: int = RATE
    _chunks: list[bytes] = field(default_factory=list)
    _arrivals: list[tuple[float, int]] = field(default_factory=list)  # (time, frames so far)
    _frames: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _process: subprocess.Popen[bytes] | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> MonitorRecorder:
        self._process = subprocess.Popen(
            [
                "parec",
                f"--device={self.pulse.monitor}",
                "--latency-msec=10",
                "--raw",
                "--format=float32le",
                "--channels=1",
                f"--rate={self.rate}",
            ],
            env=self.pulse.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while self.frames() < self.rate // 20:  # 50 ms of (silent) sound: it is recording
            if time.monotonic() > deadline:
                raise RuntimeError("parec recorded nothing from the null sink's monitor")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process is not None:
            terminate(self._process, timeout_s=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        descriptor = self._process.stdout.fileno()
        pending = b""
        while chunk := os.read(descriptor, 8192):
            pending += chunk
            usable = len(pending) - len(pending) % 4
            with self._lock:
                self._chunks.append(pending[:usable])
                self._frames += usable // 4
                self._arrivals.append((time.monotonic(), self._frames))
            pending = pending[usable:]

    def frames(self) -> int:
        """Frames recorded so far (the recording's "now")."""
        with self._lock:
            return self._frames

    def frame_at(self, moment: float) -> int:
        """The recording's frame for ``time.monotonic()`` value ``moment`` (a lower bound).

        Each read at time t holding n frames proves n - (t - moment) * rate frames had been
        rendered by ``moment``; the best such proof corrects for this reader being late.
        """
        with self._lock:
            later = [(t, n) for t, n in self._arrivals if t >= moment]
        if not later:
            raise AssertionError("nothing recorded after that moment yet")
        return int(max(n - (t - moment) * self.rate for t, n in later))

    def time_of(self, frame: int) -> float:
        """The ``time.monotonic()`` by which ``frame`` had been rendered (an upper bound, the
        inverse of ``frame_at``): each read at time t holding n ≥ frame frames proves it was
        there by t - (n - frame) / rate; the earliest such proof wins."""
        with self._lock:
            proofs = [t - (n - frame) / self.rate for t, n in self._arrivals if n >= frame]
        if not proofs:
            raise AssertionError(f"frame {frame} has not been recorded yet")
        return min(proofs)

    def samples(self) -> np.ndarray:
        with self._lock:
            data = b"".join(self._chunks)
        return np.frombuffer(data, dtype="<f4")

    def loudness(self, window_s: float = 0.01) -> np.ndarray:
        """RMS per ``window_s`` window of everything recorded."""
        samples = self.samples()
        window = max(1, int(window_s * self.rate))
        usable = len(samples) - len(samples) % window
        return np.sqrt(np.mean(np.square(samples[:usable].reshape(-1, window)), axis=1))

    def loud_frames(self, threshold: float = 0.05, window_s: float = 0.01) -> np.ndarray:
        """Start frames of the windows louder than ``threshold``."""
        window = max(1, int(window_s * self.rate))
        return np.nonzero(self.loudness(window_s) > threshold)[0] * window

    def sound_after_ms(self, moment: float) -> float:
        """How long sound went on after ``time.monotonic()`` value ``moment``, in ms: to the end
        of the last loud window recorded (a barge-in's tail)."""
        window_s = 0.01
        last_sound = int(self.loud_frames(window_s=window_s)[-1]) + int(window_s * self.rate)
        return (last_sound - self.frame_at(moment)) / self.rate * 1000

    def wait_for_sound(self, timeout: float, since: int = 0, threshold: float = 0.05) -> int:
        """The first loud frame at or after ``since``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            loud = self.loud_frames(threshold)
            loud = loud[loud >= since]
            if len(loud):
                return int(loud[0])
            time.sleep(0.01)
        raise AssertionError(f"no sound reached the null sink within {timeout} s")

    def wait_for_silence(self, timeout: float, quiet_s: float = 0.3) -> None:
        """Wait until the last ``quiet_s`` of the recording is silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            loud = self.loud_frames()
            if not len(loud) or self.frames() - loud[-1] > quiet_s * self.rate:
                return
            time.sleep(0.02)
        raise AssertionError(f"the null sink was not silent within {timeout} s")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
