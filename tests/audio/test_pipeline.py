"""Speaking a reply: order, bounded concurrency, early start, barge-in, failures, saving.

These run the pipeline without a sound device (synthesise-and-keep mode) so they need no
PulseAudio; test_playback.py runs it through a real player.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from audio.events import SentenceSpeaking, SpeechFailed, SpeechFinished, SpeechStarted
from audio.fish_speech import FishSpeechClient
from audio.pcm import decode_audio
from audio.pipeline import SpokenReply
from audio.synthesis import SpeechSynthesizer
from audio.voices import LocalVoices, VoiceLibrary
from tests.audio.conftest import tts_settings
from tests.support.fish_speech_server import FishSpeechServer, tone_frequency


def _synthesizer(server: FishSpeechServer, tmp_path: Path, **settings: object) -> SpeechSynthesizer:
    tts = tts_settings(server, **settings)
    client = FishSpeechClient(tts)
    return SpeechSynthesizer(client, VoiceLibrary(client, LocalVoices(tmp_path / "v")), tts)


def _reply(synthesizer: SpeechSynthesizer, *, slots: int = 2, **kwargs: object) -> SpokenReply:
    return SpokenReply(
        synthesizer=synthesizer,
        player=None,
        slots=asyncio.Semaphore(slots),
        keep_audio=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _segment_pitches(wav: bytes, texts: list[str], seconds_per_char: float) -> list[float]:
    clip = decode_audio(wav)
    pitches, start = [], 0
    for text in texts:
        length = int(max(0.2, len(text) * seconds_per_char) * clip.sample_rate)
        segment = clip.samples[start : start + length]
        spectrum = np.abs(np.fft.rfft(segment))
        pitches.append(float(np.argmax(spectrum) * clip.sample_rate / len(segment)))
        start += length
    return pitches


async def test_sentences_come_out_in_order_with_bounded_concurrency(tmp_path: Path) -> None:
    # The first sentence is the slowest to synthesise: later ones finish first but wait.
    texts = [
        "This first sentence is by far the longest one of them all.",
        "Short two.",
        "Short three!",
        "Six!",
    ]
    assert len({tone_frequency(t) for t in texts}) == len(texts)
    with FishSpeechServer(real_time_factor=0.5) as server:
        synthesizer = _synthesizer(server, tmp_path)
        reply = _reply(synthesizer, slots=2)
        reply.feed_text(" ".join(texts))
        result = await reply.finish()
        await synthesizer.client.aclose()
    assert result.error is None
    assert result.sentences == tuple(texts)
    # Requests may reach the server in either order; the audio must not.
    assert sorted(call.request.text for call in server.calls) == sorted(texts)
    assert server.max_in_flight == 2
    assert result.audio_wav is not None
    pitches = _segment_pitches(result.audio_wav, texts, server.seconds_per_char)
    assert pitches == pytest.approx([tone_frequency(t) for t in texts], abs=6)


async def test_one_at_a_time_when_asked(tmp_path: Path) -> None:
    with FishSpeechServer(real_time_factor=0.3) as server:
        synthesizer = _synthesizer(server, tmp_path)
        reply = _reply(synthesizer, slots=1)
        reply.feed_text("One is here. Two is here. Three is here.")
        result = await reply.finish()
        await synthesizer.client.aclose()
    assert result.spoken == 3
    assert server.max_in_flight == 1


async def test_first_sentence_is_spoken_while_the_reply_is_still_written(tmp_path: Path) -> None:
    with FishSpeechServer() as server:
        synthesizer = _synthesizer(server, tmp_path, streaming=True)
        events: list[object] = []
        reply = _reply(synthesizer, on_event=events.append)
        assert reply.feed_text("The first sentence is ready. The sec") == [
            "The first sentence is ready."
        ]
        deadline = time.monotonic() + 5
        while not any(isinstance(e, SentenceSpeaking) for e in events):
            assert time.monotonic() < deadline, "the first sentence was not synthesised"
            await asyncio.sleep(0.01)
        assert reply.active
        assert [c.request.text for c in server.calls] == ["The first sentence is ready."]
        reply.feed_text("ond one follows.")
        assert reply.close() == ["The second one follows."]
        result = await reply.wait()
        await synthesizer.client.aclose()
    assert result.spoken == 2
    assert isinstance(events[0], SpeechStarted)
    assert result.first_audio_ms == events[0].first_audio_ms
    assert [e.index for e in events if isinstance(e, SentenceSpeaking)] == [0, 1]
    assert isinstance(events[-1], SpeechFinished) and not events[-1].cancelled


async def test_cancel_stops_pending_synthesis(tmp_path: Path) -> None:
    with FishSpeechServer(real_time_factor=1.0, seconds_per_char=0.05) as server:
        synthesizer = _synthesizer(server, tmp_path, streaming=True)
        reply = _reply(synthesizer)
        reply.feed_text("A long first sentence to say. A long second sentence to say. Third one.")
        events = reply.events()
        assert isinstance(await anext(events), SpeechStarted)
        started = time.monotonic()
        reply.cancel()
        result = await reply.wait()
        assert time.monotonic() - started < 0.2
        assert result.cancelled
        remaining = [event async for event in events]
        assert isinstance(remaining[-1], SpeechFinished) and remaining[-1].cancelled
        await asyncio.to_thread(server.wait_until_idle)
        await synthesizer.client.aclose()
    assert server.in_flight == 0
    assert len(server.calls) == 2  # the third never started: at most two in flight
    assert all(call.cancelled and not call.completed for call in server.calls)
    # A cancelled reply swallows what the model still writes, quietly.
    assert reply.feed_text("More text. And more.") == []
    assert reply.add_sentence("Even more.") == []
    assert reply.close() == []
    assert len(server.calls) == 2 and reply.sentences == result.sentences


async def test_tts_failure_ends_speech_but_keeps_the_text(tmp_path: Path) -> None:
    with FishSpeechServer() as server:
        server.fail_status = 500
        synthesizer = _synthesizer(server, tmp_path)
        events: list[object] = []
        reply = _reply(synthesizer, on_event=events.append)
        reply.feed_text("One. Two. Three. Four. Five.")
        result = await reply.finish()
        failures = [e for e in events if isinstance(e, SpeechFailed)]
        assert len(failures) == 1
        assert failures[0].kind == "tts"
        assert "failed (HTTP 500)" in failures[0].reason
        assert result.error == failures[0].reason
        assert result.sentences == ("One.", "Two.", "Three.", "Four.", "Five.")
        assert result.spoken == 0
        assert len(server.calls) <= 3, "no more requests after the server failed"

        server.fail_status = None  # the next reply tries again, and works
        again = _reply(synthesizer)
        again.feed_text("Back again.")
        result = await again.finish()
        await synthesizer.client.aclose()
    assert (result.error, result.spoken) == (None, 1)


async def test_each_reply_saved_as_a_wav(tmp_path: Path) -> None:
    with FishSpeechServer() as server:
        synthesizer = _synthesizer(server, tmp_path)
        reply = SpokenReply(
            synthesizer=synthesizer,
            player=None,
            slots=asyncio.Semaphore(2),
            save_dir=tmp_path / "saved",
        )
        reply.feed_text("Save me. And me too.")
        result = await reply.finish()
        await synthesizer.client.aclose()
    assert result.audio_wav is None  # only asked to save, not to return it
    assert result.saved_to is not None and result.saved_to.parent == tmp_path / "saved"
    clip = decode_audio(result.saved_to.read_bytes())
    expected = sum(max(0.2, len(t) * server.seconds_per_char) for t in ("Save me.", "And me too."))
    assert clip.duration_s == pytest.approx(expected, abs=0.01)
    assert result.audio_seconds == pytest.approx(expected, abs=0.01)


async def test_code_and_markdown_never_reach_the_server(tmp_path: Path) -> None:
    with FishSpeechServer() as server:
        synthesizer = _synthesizer(server, tmp_path)
        reply = _reply(synthesizer)
        for delta in [
            "## Plan\n",
            "Run **this**:\n```sh\nrm -rf /tmp/x\n```\n",
            "Then `ls`. Done!",
        ]:
            reply.feed_text(delta)
        result = await reply.finish()
        await synthesizer.client.aclose()
    spoken = ["Plan", "Run this:", "Then.", "Done!"]
    assert list(result.sentences) == spoken
    assert sorted(call.request.text for call in server.calls) == sorted(spoken)
