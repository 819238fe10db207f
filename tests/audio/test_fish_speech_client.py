"""The Fish Speech client against a loopback server speaking the real protocol."""

from __future__ import annotations

import socket
import time
from contextlib import aclosing

import numpy as np
import pytest

from audio.errors import TTSRejected, TTSUnavailable, VoiceExists
from audio.fish_speech import FishSpeechClient, ReferenceAudio
from audio.pcm import decode_audio
from audio.synthesis import SpeechSynthesizer
from audio.voices import LocalVoices, VoiceLibrary
from config import TTSSettings
from tests.audio.conftest import tone_file, tts_settings
from tests.support.fish_speech_server import FishSpeechServer, tone_frequency

TEXT = "Hello from the loopback server."


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def _synthesizer(settings: TTSSettings, tmp_path) -> SpeechSynthesizer:
    client = FishSpeechClient(settings)
    return SpeechSynthesizer(client, VoiceLibrary(client, LocalVoices(tmp_path)), settings)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_msgpack_request_carries_every_setting(fish_server: FishSpeechServer) -> None:
    settings = tts_settings(
        fish_server,
        chunk_length=300,
        normalize=False,
        temperature=0.6,
        top_p=0.9,
        repetition_penalty=1.3,
        max_new_tokens=777,
        seed=42,
        use_memory_cache=False,
    )
    async with aclosing(FishSpeechClient(settings)) as client:
        wav = await client.synthesize(TEXT, reference_id="narrator")
    call = fish_server.calls[0]
    assert call.encoding == "msgpack"
    request = call.request
    assert request.text == TEXT
    assert (request.format, request.streaming) == ("wav", False)
    assert request.reference_id == "narrator"
    assert (request.chunk_length, request.normalize, request.seed) == (300, False, 42)
    assert (request.temperature, request.top_p, request.repetition_penalty) == (0.6, 0.9, 1.3)
    assert (request.max_new_tokens, request.use_memory_cache) == (777, "off")
    clip = decode_audio(wav)
    assert clip.sample_rate == 44100
    assert clip.duration_s == pytest.approx(len(TEXT) * fish_server.seconds_per_char, abs=0.01)
    assert _dominant_frequency(clip.samples, 44100) == pytest.approx(tone_frequency(TEXT), abs=3)


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
async def test_inline_reference_audio_arrives_intact(
    fish_server: FishSpeechServer, encoding: str
) -> None:
    sample = tone_file(3.5)
    settings = tts_settings(fish_server, request_encoding=encoding)
    async with aclosing(FishSpeechClient(settings)) as client:
        await client.synthesize(TEXT, references=[ReferenceAudio(sample, "what was said")])
    call = fish_server.calls[0]
    assert call.encoding == encoding
    assert call.voice == "inline:1"
    assert call.request.references[0].audio == sample
    assert call.request.references[0].text == "what was said"


async def test_mp3_answer(fish_server: FishSpeechServer, tmp_path) -> None:
    synthesizer = _synthesizer(tts_settings(fish_server, format="mp3"), tmp_path)
    wav = await synthesizer.synthesize_speech(TEXT)
    assert fish_server.calls[0].request.format == "mp3"
    clip = decode_audio(wav)
    assert wav[:4] == b"RIFF"
    assert clip.duration_s == pytest.approx(len(TEXT) * fish_server.seconds_per_char, abs=0.08)
    await synthesizer.client.aclose()


async def test_streaming_headerless_pcm(fish_server: FishSpeechServer, tmp_path) -> None:
    synthesizer = _synthesizer(tts_settings(fish_server, streaming=True), tmp_path)
    clips = [clip async for clip in synthesizer.stream_speech(TEXT)]
    await synthesizer.client.aclose()
    assert fish_server.calls[0].request.streaming is True
    assert len(clips) > 1, "streamed audio should arrive in pieces"
    samples = np.concatenate([clip.samples for clip in clips])
    assert {clip.sample_rate for clip in clips} == {44100}
    assert len(samples) / 44100 == pytest.approx(len(TEXT) * fish_server.seconds_per_char, abs=0.01)
    assert _dominant_frequency(samples, 44100) == pytest.approx(tone_frequency(TEXT), abs=3)


async def test_streaming_with_header_uses_its_rate(tmp_path) -> None:
    with FishSpeechServer(sample_rate=24000, stream_wav_header=True) as server:
        synthesizer = _synthesizer(tts_settings(server, streaming=True), tmp_path)
        wav = await synthesizer.synthesize_speech(TEXT)
        await synthesizer.client.aclose()
    clip = decode_audio(wav)
    assert clip.sample_rate == 24000
    assert _dominant_frequency(clip.samples, 24000) == pytest.approx(tone_frequency(TEXT), abs=3)


async def test_streaming_first_audio_arrives_before_the_sentence_is_done(tmp_path) -> None:
    with FishSpeechServer(real_time_factor=1.0, seconds_per_char=0.02) as server:
        synthesizer = _synthesizer(tts_settings(server, streaming=True), tmp_path)
        text = "x" * 50  # one second of audio, produced in real time
        started = time.monotonic()
        first_at = None
        async for _clip in synthesizer.stream_speech(text):
            first_at = first_at or time.monotonic() - started
        total = time.monotonic() - started
        await synthesizer.client.aclose()
    assert first_at is not None and first_at < 0.3
    assert total > 0.9


async def test_bearer_key(tmp_path) -> None:
    with FishSpeechServer(api_key="sesame") as server:
        async with aclosing(FishSpeechClient(tts_settings(server, api_key="sesame"))) as client:
            await client.health()
            await client.synthesize(TEXT)
        assert server.calls[0].authorization == "Bearer sesame"
        async with aclosing(FishSpeechClient(tts_settings(server, api_key="wrong"))) as client:
            with pytest.raises(TTSRejected, match=r"refused the API key \(HTTP 401\).*api_key"):
                await client.synthesize(TEXT)
        async with aclosing(FishSpeechClient(tts_settings(server))) as client:
            with pytest.raises(TTSRejected) as excinfo:
                await client.health()
            assert excinfo.value.status_code == 401


async def test_server_down() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with aclosing(FishSpeechClient(TTSSettings(url=url))) as client:
        with pytest.raises(TTSUnavailable, match=f"cannot reach the TTS server at {url}"):
            await client.synthesize(TEXT)
        with pytest.raises(TTSUnavailable, match="cannot reach"):
            await client.health()


async def test_slow_server_times_out(fish_server: FishSpeechServer) -> None:
    fish_server.delay_s = 3.0
    async with aclosing(FishSpeechClient(tts_settings(fish_server, timeout_s=0.3))) as client:
        started = time.monotonic()
        with pytest.raises(TTSUnavailable, match=r"did not answer within 0.3 s"):
            await client.synthesize(TEXT)
    assert time.monotonic() - started < 1.5


async def test_server_error_500(fish_server: FishSpeechServer) -> None:
    fish_server.fail_status = 500
    async with aclosing(FishSpeechClient(tts_settings(fish_server))) as client:
        with pytest.raises(
            TTSUnavailable, match=r"failed \(HTTP 500\) \(Failed to generate speech\)"
        ):
            await client.synthesize(TEXT)
        fish_server.fail_status = None  # the next request simply works again
        assert decode_audio(await client.synthesize(TEXT)).duration_s > 0.1


async def test_stream_cut_off(fish_server: FishSpeechServer, tmp_path) -> None:
    fish_server.cut_stream_after_s = 0.2
    synthesizer = _synthesizer(tts_settings(fish_server, streaming=True), tmp_path)
    received = []
    with pytest.raises(TTSUnavailable, match="cut the audio stream off"):
        async for clip in synthesizer.stream_speech("y" * 40):
            received.append(clip)
    await synthesizer.client.aclose()
    assert received, "audio before the cut still arrives"


async def test_wrong_url_and_rejected_text(tmp_path) -> None:
    with FishSpeechServer(max_text_length=10) as server:
        async with aclosing(FishSpeechClient(TTSSettings(url=server.url + "/api"))) as client:
            with pytest.raises(TTSRejected, match=r"no Fish Speech API .*check \[tts\] url"):
                await client.synthesize(TEXT)
        async with aclosing(FishSpeechClient(tts_settings(server))) as client:
            with pytest.raises(TTSRejected, match=r"HTTP 400\) \(Text is too long\)"):
                await client.synthesize(TEXT)


async def test_references_api(fish_server: FishSpeechServer) -> None:
    sample = tone_file(4.0)
    async with aclosing(FishSpeechClient(tts_settings(fish_server))) as client:
        assert await client.list_references() == []
        assert await client.add_reference("my voice", sample, "the words") is True
        assert fish_server.references["my voice"] == (sample, "the words")
        assert await client.list_references() == ["my voice"]
        with pytest.raises(VoiceExists):
            await client.add_reference("my voice", sample, "again")
        assert await client.delete_reference("my voice") is True
        assert await client.delete_reference("my voice") is False
        assert await client.list_references() == []


async def test_server_without_references_api() -> None:
    with FishSpeechServer(references_api=False) as server:
        async with aclosing(FishSpeechClient(tts_settings(server))) as client:
            assert await client.list_references() is None
            assert await client.add_reference("v", tone_file(4.0), "words") is False
            assert await client.delete_reference("v") is False
            await client.synthesize(TEXT)  # speech itself works
