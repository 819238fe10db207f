"""Hearing over HTTP: POST /v1/transcribe, and a chat message sent as speech (audio_b64).

Real espeak-ng speech goes up; the scripted recogniser (the OpenAI transcription protocol)
answers exact words, so the test can follow them into the turn's prompt and back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fish_speech_server import FishSpeechServer
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import Served, served, service_env
from tests.support.speech import SpeechSamples, joined

WORDS = "what is on my screen today"


@pytest.fixture(scope="module")
def asr() -> Iterator[ScriptedASR]:
    with ScriptedASR(default=Heard(WORDS)) as server:
        yield server


@pytest.fixture(scope="module")
def hearing(
    model: ScriptedOpenAI,
    asr: ScriptedASR,
    fish: FishSpeechServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """A service whose speech recogniser is the scripted one (and a voice); uploads up to
    1 MB."""
    folder = tmp_path_factory.mktemp("hearing")
    env = service_env(
        folder, model.url, ASR__URL=asr.url, TTS__URL=fish.url, SERVER__MAX_UPLOAD_MB="1"
    )
    with served(env, stderr_dir=folder) as service:
        yield service


def _transcribe(service: Served, audio: bytes, filename: str = "me.wav", **form: str):
    return httpx.post(
        f"{service.url}/v1/transcribe",
        files={"audio_file": (filename, audio, "audio/wav")},
        data=form,
        timeout=60,
    )


def test_transcribe_answers_the_words_and_the_audio_reaches_the_recogniser(
    hearing: Served, asr: ScriptedASR, speech: SpeechSamples
) -> None:
    asr.clear()
    audio = speech.korean.read_bytes()
    response = _transcribe(hearing, audio, language="ko")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == WORDS
    assert body["language"] == "ko"
    assert set(body) == {"text", "language", "duration_s"}
    assert body["duration_s"] == pytest.approx(len(audio[44:]) / 2 / 22050, abs=0.1)
    [sent] = asr.transcriptions
    assert sent.fields["language"] == "ko"
    assert sent.audio.startswith(b"RIFF")


def test_transcribe_refuses_a_text_file_and_an_oversized_upload(
    hearing: Served, asr: ScriptedASR
) -> None:
    asr.clear()
    text = _transcribe(hearing, b"just some words, not audio\n" * 10, filename="notes.txt")
    assert text.status_code == 400, text.text
    assert text.json()["detail"].startswith("Invalid audio file format:")
    huge = _transcribe(hearing, b"RIFF" + bytes(2 * 1024 * 1024))
    assert huge.status_code == 413, huge.text
    assert "max_upload_mb" in huge.json()["detail"]
    assert asr.transcriptions == [], "nothing that bad reaches the recogniser"


def test_transcribe_without_a_recogniser_is_503_saying_what_to_set(
    plain: Served, speech: SpeechSamples
) -> None:
    response = _transcribe(plain, speech.english.read_bytes())
    assert response.status_code == 503, response.text
    assert "TERMMATE_ASR__URL" in response.json()["detail"]


def test_a_spoken_message_is_heard_answered_and_the_answer_says_what_was_heard(
    hearing: Served, model: ScriptedOpenAI, speech: SpeechSamples, user: str
) -> None:
    model.script(Reply.of("Your", " editor."))
    audio_b64 = base64.b64encode(speech.english.read_bytes()).decode()
    response = httpx.post(
        f"{hearing.url}/v1/chat",
        json={"user_id": user, "audio_b64": audio_b64, "language": "en"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["heard"] == {"text": WORDS, "language": "en"}
    assert body["text_response"] == "Your editor."
    prompt = json.dumps(model.requests[-1].body["messages"], ensure_ascii=False)
    assert WORDS in prompt, "the heard words are the turn's message"
    thread = httpx.get(
        f"{hearing.url}/v1/threads/{body['thread_id']}", params={"user_id": user}, timeout=30
    ).json()
    assert [m["content"] for m in thread["messages"]] == [WORDS, "Your editor."]


def test_a_spoken_message_streams_heard_first(
    hearing: Served, model: ScriptedOpenAI, speech: SpeechSamples, user: str
) -> None:
    model.script(Reply.of("Fine."))
    audio_b64 = base64.b64encode(speech.english.read_bytes()).decode()
    with httpx.stream(
        "POST",
        f"{hearing.url}/v1/chat/stream",
        json={"user_id": user, "audio_b64": audio_b64},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        events = [
            line.removeprefix("event: ")
            for line in response.iter_lines()
            if line.startswith("event:")
        ]
    assert events[:2] == ["heard", "start"]
    assert events[-1] == "end"


def test_a_spoken_message_with_no_words_asks_nothing(
    hearing: Served, model: ScriptedOpenAI, asr: ScriptedASR, speech: SpeechSamples, user: str
) -> None:
    asr.script(Heard(""))
    before = len(model.requests)
    audio_b64 = base64.b64encode(speech.english.read_bytes()).decode()
    response = httpx.post(
        f"{hearing.url}/v1/chat", json={"user_id": user, "audio_b64": audio_b64}, timeout=60
    )
    assert response.status_code == 400, response.text
    assert "no speech was heard" in response.json()["detail"]
    assert len(model.requests) == before, "never an empty turn"


@pytest.mark.parametrize(
    "body",
    [
        {"message": "hi", "audio_b64": "UklGRg=="},
        {},
    ],
    ids=["both", "neither"],
)
def test_a_chat_request_has_exactly_one_of_message_and_audio(
    hearing: Served, user: str, body: dict[str, str]
) -> None:
    response = httpx.post(f"{hearing.url}/v1/chat", json={"user_id": user, **body}, timeout=30)
    assert response.status_code == 422, response.text
    assert "exactly one" in response.text


def test_audio_b64_that_is_not_base64_is_400(hearing: Served, user: str) -> None:
    response = httpx.post(
        f"{hearing.url}/v1/chat", json={"user_id": user, "audio_b64": "not base64!"}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert "base64" in response.json()["detail"]


def test_a_voice_sample_without_its_words_is_transcribed_to_clone_it(
    hearing: Served,
    asr: ScriptedASR,
    fish: FishSpeechServer,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    known = set(fish.references)
    sample = joined([speech.english, speech.english], 0.3, tmp_path / "sample.wav")  # 3–30 s
    response = httpx.post(
        f"{hearing.url}/v1/voice",
        files={"audio_file": ("me.wav", sample.read_bytes(), "audio/wav")},
        data={"user_id": "ada", "name": "heard"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    [added] = set(fish.references) - known
    assert fish.references[added][1] == WORDS, "the recogniser's words are the sample's text"
