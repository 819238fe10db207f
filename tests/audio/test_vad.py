"""The voice activity detector on real speech (espeak-ng) and real noise, fed as the
microphone would feed it (20 ms blocks, 16 kHz): where utterances start and end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio._input import _Resampler
from audio.pcm import decode_audio, resample
from audio.vad import LISTEN_RATE, SpeechBegan, Utterance, UtteranceCutter
from config import ListenSettings
from tests.support.speech import SpeechSamples, loud_span_s

BLOCK = LISTEN_RATE // 50


def speech_16k(wav: Path) -> np.ndarray:
    clip = decode_audio(wav.read_bytes())
    return resample(clip.samples, clip.sample_rate, LISTEN_RATE)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * LISTEN_RATE), dtype=np.float32)


def hiss(seconds: float, level_dbfs: float = -40.0) -> np.ndarray:
    rms = 10 ** (level_dbfs / 20)
    noise = np.random.default_rng(3).standard_normal(int(seconds * LISTEN_RATE)) * rms
    return noise.astype(np.float32)


def run(samples: np.ndarray, **listen: object) -> list[tuple[float, SpeechBegan | Utterance]]:
    """Feed ``samples`` block by block with a clock starting at 0; (time, event) pairs."""
    cutter = UtteranceCutter(ListenSettings(**listen))
    events = []
    for index in range(0, len(samples), BLOCK):
        now = (index + BLOCK) / LISTEN_RATE
        events += [(now, event) for event in cutter.feed(samples[index : index + BLOCK], now)]
    return events


def utterances(events: list[tuple[float, SpeechBegan | Utterance]]) -> list[Utterance]:
    return [event for _, event in events if isinstance(event, Utterance)]


def test_an_utterance_from_pre_roll_to_closing_silence(speech: SpeechSamples) -> None:
    spoken = speech_16k(speech.english)
    events = run(np.concatenate([silence(1.0), spoken, silence(1.5)]), end_silence_ms=500)
    [(began_at, began), (ended_at, utterance)] = events
    assert isinstance(began, SpeechBegan) and isinstance(utterance, Utterance)
    first, last = loud_span_s(spoken, LISTEN_RATE)
    assert began.at == pytest.approx(1.0 + first, abs=0.06)  # estimated back to the onset
    assert began_at == pytest.approx(began.at + 0.12, abs=0.03)  # decided min_speech_ms later
    assert utterance.speech_started_at == began.at
    assert utterance.speech_ended_at == pytest.approx(1.0 + last, abs=0.06)
    assert ended_at - utterance.speech_ended_at == pytest.approx(0.5, abs=0.03)
    assert utterance.ended_by == "silence"
    heard_first, heard_last = loud_span_s(utterance.samples, LISTEN_RATE)
    assert heard_first == pytest.approx(0.3, abs=0.03)  # listen.pre_roll_ms
    assert heard_last - heard_first == pytest.approx(last - first, abs=0.001)


def test_a_pause_shorter_than_end_silence_does_not_end_the_utterance(
    speech: SpeechSamples,
) -> None:
    spoken = speech_16k(speech.korean)
    short_pause = np.concatenate([silence(0.5), spoken, silence(0.4), spoken, silence(1.2)])
    assert len(utterances(run(short_pause, end_silence_ms=700))) == 1
    long_pause = np.concatenate([silence(0.5), spoken, silence(1.2), spoken, silence(1.2)])
    assert len(utterances(run(long_pause, end_silence_ms=700))) == 2


def test_a_click_is_not_speech() -> None:
    click = np.concatenate([silence(0.5), np.full(960, 0.5, np.float32), silence(1.0)])
    assert run(click, min_speech_ms=120) == []


def test_speech_over_room_noise_is_heard_and_the_noise_alone_is_not(
    speech: SpeechSamples,
) -> None:
    spoken = speech_16k(speech.english)
    room = hiss(2.0 + len(spoken) / LISTEN_RATE)
    assert run(room) == []
    talking = room.copy()
    talking[LISTEN_RATE : LISTEN_RATE + len(spoken)] += spoken
    [utterance] = utterances(run(talking))
    assert utterance.ended_by == "silence"


def test_a_fan_that_starts_later_is_taken_for_the_room_within_seconds() -> None:
    """A sudden steady noise first sounds like speech; the floor follows it within 3 s."""
    events = run(np.concatenate([silence(1.0), hiss(10.0)]))
    [utterance] = utterances(events)
    assert utterance.ended_by == "silence" and utterance.duration_s < 4.5


def test_max_utterance_s_cuts_a_speaker_who_goes_on(speech: SpeechSamples) -> None:
    spoken = speech_16k(speech.english)
    endless = np.concatenate([silence(0.5), *[spoken] * 4, silence(1.0)])
    heard = utterances(run(endless, max_utterance_s=2.0, pre_roll_ms=300))
    assert heard[0].ended_by == "max_length"
    assert heard[0].duration_s == pytest.approx(2.0 + 0.3, abs=0.05)
    assert len(heard) >= 3 and all(u.duration_s <= 2.0 + 0.3 + 0.05 for u in heard)


def test_finish_hands_over_the_utterance_under_way_or_nothing(speech: SpeechSamples) -> None:
    cutter = UtteranceCutter(ListenSettings())
    cutter.feed(silence(0.5), 0.5)
    assert cutter.finish(0.5) is None
    cutter.feed(speech_16k(speech.english)[: LISTEN_RATE // 2], 1.0)
    utterance = cutter.finish(1.0)
    assert utterance is not None and utterance.ended_by == "stop"
    assert not cutter.in_speech


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_a_microphone_at_another_rate_is_resampled_without_seams(rate: int) -> None:
    tone = np.sin(2 * np.pi * 300 * np.arange(rate) / rate).astype(np.float32)
    resampler = _Resampler(rate, LISTEN_RATE)
    block = rate // 50
    out = np.concatenate([resampler(tone[i : i + block]) for i in range(0, rate, block)])
    expected = np.sin(2 * np.pi * 300 * np.arange(len(out)) / LISTEN_RATE)
    assert abs(len(out) - LISTEN_RATE) <= 1
    assert np.abs(out - expected).max() < 1e-3
