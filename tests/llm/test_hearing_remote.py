"""The remote speech recogniser against a scripted /v1/audio/transcriptions over loopback HTTP:
the words it answers, the form it is sent, and errors a user can act on."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from agent.llm.errors import BadResponse, ModelUnavailable, RequestRejected
from agent.llm.hearing import Transcript, speech_models, transcribe
from config import Settings
from tests.support.scripted_asr import ASR_MODEL, Heard, ScriptedASR
from tests.support.speech import SpeechSamples


def online(tmp_path: Path, url: str, **asr: Any) -> Settings:
    """Online mode: the remote recogniser only (no local model is ever loaded)."""
    return Settings(data_dir=tmp_path / "data", mode="online", asr={"url": url, **asr})


async def hear(settings: Settings, audio: Any, **options: Any) -> Transcript:
    models = speech_models(settings)
    try:
        return await transcribe(models, audio, **options)
    finally:
        await models.aclose()


async def test_the_words_come_back_exactly_with_the_audio_and_fields_sent(
    tmp_path: Path, speech: SpeechSamples
) -> None:
    wav = speech.english.read_bytes()
    with ScriptedASR(Heard("What is on my screen today?")) as asr:
        transcript = await hear(online(tmp_path, asr.url, api_key="s3cret"), wav)

    assert transcript.text == "What is on my screen today?"
    assert (transcript.backend, transcript.model, transcript.language) == (
        "remote",
        ASR_MODEL,
        "en",
    )
    assert transcript.duration_s == pytest.approx(soundfile.info(speech.english).duration)
    assert transcript.timings["total_ms"] >= transcript.timings["recognise_ms"] > 0
    assert asr.paths == ["/v1/models", "/v1/audio/transcriptions"]  # the model, learnt once
    [sent] = asr.transcriptions
    assert sent.fields == {"model": ASR_MODEL, "response_format": "json"}  # auto: no language
    assert sent.audio == wav and sent.filename == "speech.wav"
    assert sent.content_type == "audio/wav"
    assert sent.headers["authorization"] == "Bearer s3cret"


async def test_a_fixed_language_is_sent_and_samples_go_as_a_16_khz_wav(tmp_path: Path) -> None:
    samples = (0.2 * np.sin(2 * np.pi * 220 * np.arange(8000) / 16000)).astype(np.float32)
    with ScriptedASR(Heard("  네, 알겠습니다.  ")) as asr:
        settings = online(tmp_path, asr.url, model="whisper-large-v3", language="ko")
        transcript = await hear(settings, samples)

    assert (transcript.text, transcript.language) == ("네, 알겠습니다.", "ko")
    assert transcript.duration_s == pytest.approx(0.5)
    assert asr.paths == ["/v1/audio/transcriptions"]  # the model is set: nothing to ask
    [sent] = asr.transcriptions
    assert sent.fields == {
        "model": "whisper-large-v3",
        "response_format": "json",
        "language": "ko",
    }
    uploaded, rate = soundfile.read(io.BytesIO(sent.audio), dtype="float32")
    assert rate == 16000 and np.allclose(uploaded, samples, atol=1 / 16384)


async def test_auto_tells_the_language_from_the_script_within_the_allowed_ones(
    tmp_path: Path, speech: SpeechSamples
) -> None:
    wav = speech.korean.read_bytes()
    with ScriptedASR(Heard("안녕하세요, 오늘 날씨가 정말 좋네요."), Heard("Good morning")) as asr:
        korean = await hear(online(tmp_path, asr.url), wav)
        english = await hear(online(tmp_path, asr.url), wav)
    assert (korean.language, english.language) == ("ko", "en")

    # One allowed language is as good as a fixed one: it is sent, and it is the answer.
    with ScriptedASR(Heard("Good morning")) as asr:
        only = await hear(online(tmp_path, asr.url, languages=["ko"]), wav)
        assert asr.transcriptions[0].fields["language"] == "ko"
    assert only.language == "ko"

    # A language given to the call wins over the settings.
    with ScriptedASR(Heard("hello")) as asr:
        asked = await hear(online(tmp_path, asr.url, language="ko"), wav, language="auto")
        assert "language" not in asr.transcriptions[0].fields
    assert asked.language == "en"


async def test_a_rejected_request_says_what_the_server_said(tmp_path: Path) -> None:
    asr = ScriptedASR(Heard.failure(400, "audio format not supported"))
    with asr, pytest.raises(RequestRejected) as caught:
        await hear(online(tmp_path, asr.url, model="w"), np.zeros(1600, np.float32))
    reason = caught.value.reason
    assert f"{asr.url}/audio/transcriptions rejected the request (HTTP 400)" in reason
    assert "audio format not supported" in reason


async def test_a_refused_key_names_the_setting_to_check(tmp_path: Path) -> None:
    with ScriptedASR(api_key="right") as asr, pytest.raises(RequestRejected) as caught:
        await hear(online(tmp_path, asr.url, api_key="wrong"), np.ones(800, np.float32))
    assert "refused the API key (HTTP 401)" in caught.value.reason
    assert "TERMMATE_ASR__API_KEY" in caught.value.reason


async def test_a_failing_server_is_retried_then_reported(tmp_path: Path) -> None:
    with ScriptedASR(Heard.failure(503, "warming up"), Heard("second try")) as asr:
        settings = online(tmp_path, asr.url, model="w", max_retries=1)
        assert (await hear(settings, np.ones(800, np.float32))).text == "second try"
        assert len(asr.transcriptions) == 2

        asr.script(Heard.failure(503, "still warming"), Heard.failure(503, "still warming"))
        with pytest.raises(ModelUnavailable, match="HTTP 503: still warming"):
            await hear(settings, np.ones(800, np.float32))


async def test_an_answer_without_text_is_a_bad_response(tmp_path: Path) -> None:
    asr = ScriptedASR(Heard(body={"transcript": "wrong key"}))
    with asr, pytest.raises(BadResponse, match=r'answered without a transcript \(no "text"\)'):
        await hear(online(tmp_path, asr.url, model="w"), np.ones(800, np.float32))


async def test_a_server_that_is_not_there_is_unavailable(tmp_path: Path) -> None:
    asr = ScriptedASR().start()
    asr.stop()
    with pytest.raises(ModelUnavailable, match="connection refused"):
        await hear(online(tmp_path, asr.url, model="w", max_retries=0), np.ones(800, np.float32))
