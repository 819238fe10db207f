"""When the sound output fails to start, every clip still ends and the reply still finishes.

The fault is real: the private PulseAudio's sink is unloaded after the output was opened (a
sound card unplugged), so starting the stream fails in PortAudio. Its ALSA back end does not
even return an error then — Pa_StartStream deadlocks — so this runs in a fresh process, which
leaves with os._exit: PortAudio asserts when it terminates with that stream stuck.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.support.cli import run_python
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import PulseServer

pytestmark = pytest.mark.timeout(120)

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, subprocess, sys, threading
    from pathlib import Path

    import numpy as np

    from audio import Player, SpeechFailed, VoiceService
    from audio.pcm import Clip
    from config import AudioSettings, TTSSettings

    fish_url, data_dir = sys.argv[1], Path(sys.argv[2])


    def tone(seconds):
        t = np.arange(int(seconds * 44100)) / 44100
        return Clip((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100)


    async def main():
        report = {}
        player = Player(timeout_s=1.0)
        await asyncio.to_thread(player.open)
        voice = VoiceService(
            TTSSettings(url=fish_url), AudioSettings(), data_dir, player=Player(timeout_s=1.0)
        )
        report["before"] = (await voice.start()).state
        subprocess.run(["pactl", "unload-module", "module-null-sink"], check=True)

        # Every clip handed to the player ends exactly once, told why it could not play.
        ends, errors, both = [], [], threading.Event()

        def ended(played):
            ends.append(played)
            if len(ends) == 2:
                both.set()

        for _ in range(2):
            player.play(tone(0.5), on_end=ended, on_error=lambda e: errors.append(e.reason))
        report["clips_ended"] = await asyncio.to_thread(both.wait, 15)
        await asyncio.sleep(0.3)  # nothing ends twice
        report["ends"], report["errors"] = ends, errors

        # A reply whose playback cannot start finishes, saying why.
        events = []
        try:
            result = await asyncio.wait_for(
                voice.say("Nobody hears this. Nor this.", on_event=events.append), 20
            )
            report["error"] = result.error
        except asyncio.TimeoutError:
            report["error"] = "say() never finished"
        report["events"] = [type(e).__name__ for e in events]
        report["failures"] = [[e.kind, e.reason] for e in events if isinstance(e, SpeechFailed)]
        report["after"] = [voice.status.state, voice.status.reason]
        print(json.dumps(report), flush=True)
        os._exit(0)


    asyncio.run(main())
    """
)


def test_a_failing_output_ends_every_clip_and_the_reply(
    private_pulse: PulseServer, fish_server: FishSpeechServer, tmp_path: Path
) -> None:
    done = run_python(
        "-c", SCRIPT, fish_server.url, str(tmp_path / "data"), env=private_pulse.env()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["before"] == "ready"

    assert report["clips_ended"], f"clips never ended: {report}"
    assert report["ends"] == [False, False]
    assert len(report["errors"]) == 2
    assert all("audio output" in reason for reason in report["errors"])

    assert report["events"] == ["SpeechFailed", "SpeechFinished"]
    [[kind, reason]] = report["failures"]
    assert kind == "player" and "audio output" in reason
    assert report["error"] == reason
    state, why = report["after"]
    assert state == "off" and why == reason
