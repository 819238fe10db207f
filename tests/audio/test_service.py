"""VoiceService end to end: loopback Fish Speech → pipeline → sounddevice → PulseAudio null sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from audio.errors import VoiceNotFound
from audio.events import SentenceSpeaking, SpeechFailed, SpeechFinished, SpeechStarted, VoiceStatus
from audio.pcm import decode_audio
from audio.player import Player
from audio.service import VoiceService
from config import AudioSettings, ServiceStatus, TTSSettings
from tests.audio.conftest import tone_file, tts_settings
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import MonitorRecorder, PulseServer

pytestmark = pytest.mark.timeout(60)

REPLY = "Hello there. I can speak now! This is the third sentence."


@pytest.fixture
async def service(
    pulse: PulseServer, fish_server: FishSpeechServer, tmp_path: Path
) -> AsyncIterator[VoiceService]:
    voice = VoiceService(
        tts_settings(fish_server, streaming=True), AudioSettings(), tmp_path / "data"
    )
    assert (await voice.start()).state == "ready"
    yield voice
    await voice.aclose()


async def test_say_plays_every_sentence(
    service: VoiceService, fish_server: FishSpeechServer, recorder: MonitorRecorder
) -> None:
    start = recorder.frames()
    events: list[object] = []
    statuses: list[VoiceStatus] = []
    service.on_status = statuses.append
    result = await service.say(REPLY, on_event=events.append)
    await asyncio.to_thread(recorder.wait_for_silence, 3)
    assert result.error is None and not result.cancelled
    assert result.spoken == 3
    assert result.first_audio_ms is not None and result.first_audio_ms < 1000
    kinds = [type(e) for e in events]
    assert kinds == [
        SpeechStarted,
        SentenceSpeaking,
        SentenceSpeaking,
        SentenceSpeaking,
        SpeechFinished,
    ]
    expected = sum(len(s) for s in result.sentences) * fish_server.seconds_per_char
    loud = recorder.loud_frames()
    assert np.sum(loud >= start) * 0.01 == pytest.approx(expected, abs=0.1)
    assert [s.state for s in statuses] == ["speaking", "ready"]


async def test_the_voice_reports_its_status_line(
    service: VoiceService, fish_server: FishSpeechServer, tmp_path: Path
) -> None:
    lines: list[ServiceStatus] = []
    service.on_status = lambda _status: lines.append(service.service_status())
    await service.say("Hello there.")
    assert lines == [
        ServiceStatus("voice", "active", "speaking"),
        ServiceStatus("voice", "ok", "ready"),
    ]

    service.toggle_mute()
    assert service.service_status() == ServiceStatus("voice", "ok", "ready · muted")
    fish_server.fail_status = 500
    result = await service.say("This one is not spoken.")
    failed = service.service_status()
    assert failed == ServiceStatus("voice", "error", f"last reply not spoken: {result.error}")

    silent = VoiceService(TTSSettings(), AudioSettings(), tmp_path / "silent")
    off = silent.service_status()
    assert off.state == "off" and off.detail == silent.status.reason
    assert "set [tts] url" in (off.detail or "")
    await silent.aclose()


async def test_barge_in_during_a_reply(
    pulse: PulseServer, tmp_path: Path, recorder: MonitorRecorder
) -> None:
    with FishSpeechServer(real_time_factor=0.5, seconds_per_char=0.05) as server:
        voice = VoiceService(tts_settings(server, streaming=True), AudioSettings(), tmp_path)
        await voice.start()
        reply = voice.begin_reply()
        reply.feed_text("This first sentence plays for a good while. ")
        reply.feed_text("The second is being made. The third is queued. And a fourth.")
        events = reply.events()
        assert isinstance(await anext(events), SpeechStarted)
        await asyncio.sleep(0.3)
        stopped = time.monotonic()
        voice.stop()
        # The model is still writing: what it adds now is swallowed, quietly.
        assert reply.feed_text("A fifth one arrives. And a sixth") == []
        assert reply.add_sentence("Seventh.") == []
        assert reply.close() == []
        result = await reply.wait()
        await asyncio.sleep(0.5)
        tail_ms = recorder.sound_after_ms(stopped)
        print(f"barge-in: sound stopped {tail_ms:.0f} ms after stop()")
        assert tail_ms <= 100, f"sound went on {tail_ms:.0f} ms after stop()"
        assert result.cancelled
        await asyncio.to_thread(server.wait_until_idle)
        assert server.in_flight == 0, "pending synthesis is cancelled"
        assert not any(call.completed for call in server.calls)
        assert len(server.calls) <= 2, "nothing fed after the barge-in is synthesised"
        assert "A fifth one arrives." not in result.sentences
        assert voice.status.state == "ready"
        # The next reply speaks normally.
        again = recorder.frames()
        result = await voice.say("Back again.")
        assert result.spoken == 1
        await asyncio.to_thread(recorder.wait_for_sound, 3, again)
        await voice.aclose()


async def test_a_new_reply_queues_behind_the_one_still_speaking(
    service: VoiceService, fish_server: FishSpeechServer
) -> None:
    fish_server.real_time_factor = 0.5  # the long first sentence is still streaming in ...
    heard: list[str] = []

    def listen(event: object) -> None:
        if isinstance(event, SentenceSpeaking):
            heard.append(event.text)

    first = service.begin_reply(on_event=listen)
    first.feed_text("Alpha is a rather long first sentence to say. Alpha two.")
    second = service.begin_reply(on_event=listen)  # e.g. a watch-mode remark
    second.feed_text("Bravo.")  # ... when this short one is ready
    second.close()
    # The first is still being written: beginning the second neither closed nor cut it.
    assert not first.closed
    assert first.feed_text(" Alpha three. Alpha") == ["Alpha two.", "Alpha three."]
    assert first.close() == ["Alpha"]
    first_result, second_result = await asyncio.gather(first.wait(), second.wait())
    assert heard == [
        "Alpha is a rather long first sentence to say.",
        "Alpha two.",
        "Alpha three.",
        "Alpha",
        "Bravo.",
    ]
    assert (first_result.spoken, first_result.error) == (4, None)
    assert (second_result.spoken, second_result.error) == (1, None)


async def test_tts_failure_is_reported_and_the_next_reply_tries_again(
    service: VoiceService, fish_server: FishSpeechServer
) -> None:
    fish_server.fail_status = 500
    events: list[object] = []
    result = await service.say("This will not be heard. Nor this.", on_event=events.append)
    failure = next(e for e in events if isinstance(e, SpeechFailed))
    assert "failed (HTTP 500)" in failure.reason
    assert result.error == failure.reason
    assert service.status.state == "ready"  # the voice is still on
    assert service.status.last_error == failure.reason
    fish_server.fail_status = None
    result = await service.say("Now it works.")
    assert (result.error, result.spoken) == (None, 1)
    assert service.status.last_error is None


async def test_without_a_tts_server_the_text_goes_on(tmp_path: Path) -> None:
    voice = VoiceService(TTSSettings(), AudioSettings(), tmp_path)
    status = await voice.start()
    assert status.state == "off"
    assert "set [tts] url" in (status.reason or "")
    reply = voice.begin_reply()
    assert reply.feed_text("Still split. Still fine.") == ["Still split."]
    result = await reply.finish()
    assert result.sentences == ("Still split.", "Still fine.")
    assert result.error is not None and result.error.startswith("voice off: no TTS server")
    await voice.aclose()


async def test_no_sound_device_still_synthesises_when_audio_is_wanted(
    pulse: PulseServer, fish_server: FishSpeechServer, tmp_path: Path
) -> None:
    voice = VoiceService(
        tts_settings(fish_server),
        AudioSettings(),
        tmp_path,
        player=Player(device="no-such-card"),
    )
    status = await voice.start()
    assert status.state == "off" and "'no-such-card' not found" in (status.reason or "")
    result = await voice.say("Nobody hears this.")
    assert fish_server.calls == [], "no synthesis when nobody can hear it"
    assert result.error is not None and result.error.startswith("voice off:")
    result = await voice.say("Return it as a file.", keep_audio=True)
    assert result.audio_wav is not None
    assert decode_audio(result.audio_wav).duration_s == pytest.approx(
        len("Return it as a file.") * fish_server.seconds_per_char, abs=0.01
    )
    await voice.aclose()


async def test_mute_and_voice_choice(service: VoiceService, fish_server: FishSpeechServer) -> None:
    assert service.toggle_mute() is True
    assert service.status.muted and service.player.muted
    assert service.toggle_mute() is False

    cloned = await service.clone_voice_from_audio(tone_file(4.0), "spoken words", "Ava")
    assert cloned.stored_on == "server"
    with pytest.raises(VoiceNotFound):
        await service.use_voice("Zed")
    voice = await service.use_voice("Ava")
    assert voice.name == "Ava" and service.voice == "Ava"
    await service.say("In my new voice.")
    assert fish_server.calls[-1].voice == "reference:Ava"
    listing = await service.list_voices()
    assert [v.name for v in listing.voices] == ["Ava"]


async def test_save_dir_keeps_each_reply(
    pulse: PulseServer, fish_server: FishSpeechServer, tmp_path: Path
) -> None:
    voice = VoiceService(
        tts_settings(fish_server), AudioSettings(save_dir=tmp_path / "replies"), tmp_path
    )
    await voice.start()
    first = await voice.say("First reply.")
    second = await voice.say("Second reply.")
    await voice.aclose()
    assert first.saved_to and second.saved_to and first.saved_to != second.saved_to
    assert sorted(p.name for p in (tmp_path / "replies").iterdir()) == sorted(
        [first.saved_to.name, second.saved_to.name]
    )
