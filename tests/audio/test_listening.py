"""Listening through a real microphone: PulseAudio's null sink is the default source's
monitor, so a WAV played into the sink (paplay) is speech into the microphone. Real espeak-ng
speech, real PortAudio, the real voice activity detector."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from audio.listener import Listener, SpeechOnset
from audio.vad import LISTEN_RATE, Utterance
from config import ListenSettings
from tests.support.cli import run_python
from tests.support.pulse import MonitorRecorder, PulseServer, frozen, play_into
from tests.support.speech import SpeechSamples, joined, loud_span_s, room_noise
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(90)


def spoken_span_s(wav: Path) -> float:
    """How long the speech in ``wav`` lasts, from its first loud moment to its last."""
    samples, rate = soundfile.read(wav, dtype="float32")
    first, last = loud_span_s(samples, rate)
    return last - first


async def play(pulse: PulseServer, wav: Path) -> float:
    """Play ``wav`` into the microphone; returns when the sink has played it all, with the
    ``time.monotonic()`` it was started at."""
    started = time.monotonic()
    player = play_into(pulse, wav)
    code = await asyncio.to_thread(player.wait, 30)
    assert code == 0, "paplay failed"
    return started


async def test_push_to_talk_ends_by_itself_after_speech_and_keeps_the_first_syllable(
    pulse: PulseServer, speech: SpeechSamples, tmp_path: Path
) -> None:
    # The user starts talking a second after pressing the key.
    sentence = joined([speech.english], 1.0, tmp_path / "after-a-second.wav")
    listener = Listener(ListenSettings(start_timeout_s=15, end_silence_ms=700, pre_roll_ms=300))
    recording = asyncio.create_task(listener.record_one())
    await eventually(lambda: listener.ready, 10, "the microphone to open")
    started = await play(pulse, sentence)
    utterance = await asyncio.wait_for(recording, 15)
    ended = time.monotonic()

    assert isinstance(utterance, Utterance) and utterance.ended_by == "silence"
    assert utterance.sample_rate == 16000 and utterance.samples.dtype == np.float32
    assert utterance.samples.ndim == 1
    assert not listener.listening, "the microphone is closed again"
    assert utterance.saved_to is None, "nothing is written without listen.save_dir"
    # It ended by itself, soon after the speech: its length, the closing silence, some slack.
    assert ended - started < soundfile.info(sentence).duration + 0.7 + 2.0
    first, last = loud_span_s(utterance.samples, LISTEN_RATE)
    # The pre-roll: about 300 ms from before the detector heard speech start...
    assert 0.25 <= first <= 0.45
    # ...so the whole of it is there, first syllable included.
    assert last - first == pytest.approx(spoken_span_s(speech.english), abs=0.08)
    assert utterance.duration_s - last == pytest.approx(0.7, abs=0.15)  # the closing silence


async def test_silence_in_a_quiet_room_is_heard_as_nothing(
    pulse: PulseServer, recorder: MonitorRecorder, tmp_path: Path
) -> None:
    """A fan's steady hiss, 30 dB above digital silence, is the room, not speech."""
    hiss = room_noise(6.0, -40.0, tmp_path / "hiss.wav")
    player = play_into(pulse, hiss)
    try:
        recorder.wait_for_sound(10, since=recorder.frames(), threshold=0.005)
        listener = Listener(ListenSettings(start_timeout_s=1.5))
        started = time.monotonic()
        assert await listener.record_one() is None
        assert time.monotonic() - started == pytest.approx(1.5, abs=0.5)
    finally:
        player.terminate()
        player.wait(10)


async def test_stop_ends_an_utterance_early_and_before_speech_means_nothing_heard(
    pulse: PulseServer, speech: SpeechSamples
) -> None:
    listener = Listener(ListenSettings(start_timeout_s=15))
    stop = asyncio.Event()
    recording = asyncio.create_task(listener.record_one(stop=stop))
    await eventually(lambda: listener.ready, 10, "the microphone to open")
    stop.set()
    assert await asyncio.wait_for(recording, 5) is None

    stop = asyncio.Event()
    recording = asyncio.create_task(listener.record_one(stop=stop))
    await eventually(lambda: listener.ready, 10, "the microphone to open")
    player = play_into(pulse, speech.korean)
    try:
        await eventually(lambda: listener.hearing_speech, 10, "the speech to be heard")
        assert listener.level > 0.3  # the meter moves with it
        stop.set()
        utterance = await asyncio.wait_for(recording, 5)
    finally:
        player.wait(30)
    assert utterance is not None and utterance.ended_by == "stop"
    assert utterance.duration_s < spoken_span_s(speech.korean)


async def test_the_wait_for_speech_starts_when_the_microphone_can_hear(
    pulse: PulseServer, speech: SpeechSamples
) -> None:
    """A sound server slow to open the stream (2 s, frozen) does not eat the user's time to
    begin speaking: start_timeout_s counts from the moment the microphone is open."""
    listener = Listener(ListenSettings(start_timeout_s=1.5))
    with frozen(pulse, at_most_s=2.0):
        recording = asyncio.create_task(listener.record_one())
        await asyncio.sleep(2.0)  # the stream cannot open meanwhile
    await eventually(lambda: listener.ready, 10, "the microphone to open")
    player = play_into(pulse, speech.english)
    try:
        utterance = await asyncio.wait_for(recording, 15)
    finally:
        player.wait(30)
    assert utterance is not None and utterance.ended_by == "silence"


async def test_hands_free_hears_two_utterances_separated_by_silence(
    pulse: PulseServer, speech: SpeechSamples, tmp_path: Path
) -> None:
    both = joined([speech.english, speech.korean], 1.5, tmp_path / "two.wav")
    saved = tmp_path / "heard"
    listener = Listener(ListenSettings(save_dir=saved))
    onsets: list[SpeechOnset] = []
    heard: list[Utterance] = []
    async with listener.hands_free(on_speech_start=onsets.append) as stream:
        await eventually(lambda: listener.ready, 10, "the microphone to open")
        player = play_into(pulse, both)
        async for utterance in stream:
            heard.append(utterance)
            if len(heard) == 2:
                break
        player.wait(30)
    assert not listener.listening

    spans = [last - first for first, last in (loud_span_s(u.samples, LISTEN_RATE) for u in heard)]
    expected = [spoken_span_s(speech.english), spoken_span_s(speech.korean)]
    assert spans == pytest.approx(expected, abs=0.08)
    assert [o.while_paused for o in onsets] == [False, False]
    assert heard[0].speech_ended_at < onsets[1].at < heard[1].speech_started_at + 0.05
    # listen.save_dir: each utterance, exactly as heard, in a WAV of its own.
    for utterance in heard:
        assert utterance.saved_to is not None and utterance.saved_to.parent == saved
        assert utterance.saved_to.read_bytes() == utterance.wav()
    assert len(list(saved.iterdir())) == 2


async def _first(stream: Any) -> Utterance:
    async for utterance in stream:
        return utterance
    raise AssertionError("the stream ended without an utterance")


async def test_barge_in_hears_speech_starting_while_paused(
    pulse: PulseServer, speech: SpeechSamples
) -> None:
    listener = Listener(ListenSettings(barge_in=True))
    onsets: list[SpeechOnset] = []
    async with listener.hands_free(on_speech_start=onsets.append) as stream:
        await eventually(lambda: listener.ready, 10, "the microphone to open")
        stream.pause()  # the companion speaks
        player = play_into(pulse, speech.english)
        await eventually(lambda: onsets, 10, "speech to start")
        assert onsets[0].while_paused and not stream.paused  # listening goes on with it
        utterance = await asyncio.wait_for(_first(stream), 15)
        player.wait(30)
    first, last = loud_span_s(utterance.samples, LISTEN_RATE)
    assert last - first == pytest.approx(spoken_span_s(speech.english), abs=0.08)


async def test_without_barge_in_nothing_is_heard_while_paused(
    pulse: PulseServer, speech: SpeechSamples
) -> None:
    listener = Listener(ListenSettings())
    onsets: list[SpeechOnset] = []
    async with listener.hands_free(on_speech_start=onsets.append) as stream:
        assert not stream.barge_in  # listen.barge_in is off by default
        await eventually(lambda: listener.ready, 10, "the microphone to open")
        stream.pause()
        await play(pulse, speech.english)  # the companion's own voice, say
        stream.resume()
        await play(pulse, speech.korean)
        utterance = await asyncio.wait_for(_first(stream), 15)
    assert [o.while_paused for o in onsets] == [False]
    first, last = loud_span_s(utterance.samples, LISTEN_RATE)
    assert last - first == pytest.approx(spoken_span_s(speech.korean), abs=0.08)


NO_MICROPHONE = """
import asyncio
from audio.errors import MicrophoneUnavailable
from audio.listener import Listener
from config import ListenSettings

async def main():
    listener = Listener(ListenSettings())
    for attempt in (listener.record_one(), listener.hands_free().__aenter__()):
        try:
            await attempt
        except MicrophoneUnavailable as exc:
            print("NO MIC:", exc.reason)

asyncio.run(main())
"""


def test_no_microphone_says_why(tmp_path: Path) -> None:
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nobody-home"}
    done = run_python("-c", NO_MICROPHONE, env=env, timeout_s=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("NO MIC: ") for line in lines)
    assert "no microphone found" in lines[0] or "PortAudio" in lines[0]
