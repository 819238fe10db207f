"""POST /v1/voice: a user's uploaded voice speaks that user's replies (and nobody else's); a
file that is not audio is 400, an upload over max_upload_mb is 413, no TTS server is 503."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.fish_speech_server import FishSpeechServer
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import Served
from tests.support.speech import room_noise

WORDS = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 4-second WAV loud enough to pass as a voice sample."""
    return room_noise(4.0, -20, tmp_path_factory.mktemp("voice") / "sample.wav").read_bytes()


def _upload(service: Served, audio: bytes, filename: str = "me.wav", **form: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/v1/voice",
        files={"audio_file": (filename, audio, "audio/wav")},
        data=form,
        timeout=60,
    )


def _spoken_with(
    service: Served, model: ScriptedOpenAI, fish: FishSpeechServer, user: str
) -> set[str | None]:
    """The voices the TTS server was asked for while ``user``'s reply was spoken."""
    model.script(Reply.of("Hello", " there."))
    before = len(fish.calls)
    response = httpx.post(
        f"{service.url}/v1/chat", json={"user_id": user, "message": "hi"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["audio_response_b64"], response.json()["audio_error"]
    return {call.voice for call in fish.calls[before:]}


def test_an_uploaded_voice_speaks_that_users_replies_and_no_one_elses(
    voiced: Served, model: ScriptedOpenAI, fish: FishSpeechServer, sample: bytes
) -> None:
    known = set(fish.references)
    response = _upload(voiced, sample, user_id="ada", text=WORDS, name="mine")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "success",
        "message": "Voice reference updated successfully.",
        "voice": "mine",
    }
    [adas] = set(fish.references) - known
    # Bob names his the same: it must not overwrite Ada's.
    assert _upload(voiced, sample, user_id="bob", text=WORDS, name="mine").status_code == 200
    [bobs] = set(fish.references) - known - {adas}
    assert fish.references[adas][1] == WORDS
    assert _spoken_with(voiced, model, fish, "ada") == {f"reference:{adas}"}
    assert _spoken_with(voiced, model, fish, "bob") == {f"reference:{bobs}"}
    assert _spoken_with(voiced, model, fish, "carol") == {None}  # the service's own voice


def test_a_file_that_is_not_audio_is_400_invalid_audio_file_format(voiced: Served) -> None:
    response = _upload(
        voiced, b"these are words, not sound\n" * 50, "notes.txt", user_id="ada", text=WORDS
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("Invalid audio file format: ")


def test_an_upload_over_max_upload_mb_is_413(voiced: Served, sample: bytes) -> None:
    big = sample + b"\0" * (3 * 1024 * 1024)  # the voiced service takes 2 MB
    response = _upload(voiced, big, user_id="ada", text=WORDS)
    assert response.status_code == 413, response.text
    assert "max_upload_mb" in response.json()["detail"]


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"user_id": "ada"}, "no speech recogniser to hear them"),
        ({"user_id": "ada", "text": WORDS, "name": "../../etc"}, "invalid voice name"),
        ({"user_id": "no/such", "text": WORDS}, "invalid user_id"),
    ],
    ids=["no-text", "bad-name", "bad-user"],
)
def test_a_missing_transcript_or_a_bad_name_is_400(
    voiced: Served, sample: bytes, form: dict[str, str], said: str
) -> None:
    response = _upload(voiced, sample, **form)
    assert response.status_code == 400, response.text
    assert said in response.json()["detail"]


def test_without_a_tts_server_it_is_503(plain: Served, sample: bytes) -> None:
    response = _upload(plain, sample, user_id="ada", text=WORDS)
    assert response.status_code == 503, response.text
    assert "no TTS server" in response.json()["detail"]


def test_a_request_without_the_file_is_422(voiced: Served, tmp_path: Path) -> None:
    response = httpx.post(f"{voiced.url}/v1/voice", data={"user_id": "ada", "text": WORDS})
    assert response.status_code == 422, response.text
