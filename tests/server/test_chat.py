"""POST /v1/chat on a real `termmate serve`: context from the checkpointer alone, new
conversations get server-made ids, pictures go to the VLM, and each kind of bad request gets
its status (422, 400, 403, 404, 500, 503) with a one-line detail."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.server.conftest import PLAIN_MAX_MESSAGE_CHARS
from tests.support.pictures import quadrants
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import Served, served, service_env


def _chat(service: Served, **body: object) -> httpx.Response:
    return httpx.post(f"{service.url}/v1/chat", json=body, timeout=60)


def test_the_second_message_carries_the_first_exchange(
    plain: Served, model: ScriptedOpenAI, user: str
) -> None:
    """The client sends only the new message and the thread id; the prompt has the rest."""
    model.script(Reply.of("Nice", " to", " meet", " you."), Reply.of("You", " said", " Ada."))
    first = _chat(plain, user_id=user, message="My name is Ada.")
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["text_response"] == "Nice to meet you."
    assert answer["thread_id"].startswith("t-")
    assert (answer["backend"], answer["model"]) == ("remote", model.model)
    assert answer["audio_response_b64"] is None and answer["memory"] == "off"
    assert answer["timings"]["total_ms"] >= answer["timings"]["first_token_ms"] > 0

    second = _chat(plain, user_id=user, thread_id=answer["thread_id"], message="Who am I?")
    assert second.status_code == 200, second.text
    assert second.json()["text_response"] == "You said Ada."
    assert second.json()["thread_id"] == answer["thread_id"]
    prompt = [(m["role"], m["content"]) for m in model.chat_requests[-1].messages[1:]]
    assert prompt == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you."),
        ("user", "Who am I?"),
    ]


def test_no_thread_id_starts_a_new_conversation_and_a_client_cannot_pick_one(
    plain: Served, model: ScriptedOpenAI, user: str
) -> None:
    ids = {_chat(plain, user_id=user, message=f"hello {n}").json()["thread_id"] for n in range(2)}
    assert len(ids) == 2
    listed = httpx.get(f"{plain.url}/v1/threads", params={"user_id": user}).json()["threads"]
    assert {t["id"] for t in listed} == ids

    asked = len(model.chat_requests)
    mine = _chat(plain, user_id=user, thread_id="my-own-id", message="hello")
    assert mine.status_code == 404
    assert "my-own-id" in mine.json()["detail"]
    assert len(model.chat_requests) == asked  # refused before any model was asked


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "a"},  # no message
        {"message": "hi"},  # no user
        {"user_id": "a", "message": ["hi"]},
        {"user_id": "a", "message": "hi", "speak": "loudly"},
        {"user_id": "a", "message": "hi", "images": "not a list"},
        {"user_id": "a", "message": "hi", "mood": "cheerful"},  # an unknown field
        ["user_id", "message"],
    ],
    ids=["no-message", "no-user", "list-message", "bad-speak", "bad-images", "extra", "array"],
)
def test_a_body_that_does_not_fit_is_422_without_echoing_it(plain: Served, body: object) -> None:
    response = httpx.post(f"{plain.url}/v1/chat", json=body, timeout=30)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert problems and all({"loc", "msg", "type"} == set(p) for p in problems)


def test_text_that_is_not_json_is_422(plain: Served) -> None:
    response = httpx.post(
        f"{plain.url}/v1/chat",
        content=b'{"user_id": "a", "message": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"user_id": "../etc", "message": "hi"}, "invalid user_id"),
        ({"user_id": "a" * 65, "message": "hi"}, "invalid user_id"),
        ({"user_id": "ok", "thread_id": "bad/id", "message": "hi"}, "invalid thread_id"),
        ({"user_id": "ok", "message": "   \n "}, "the message is empty"),
        ({"user_id": "ok", "message": "x" * (PLAIN_MAX_MESSAGE_CHARS + 1)}, "the limit is 200"),
        ({"user_id": "ok", "message": "hi", "images": ["%%%"]}, "images[0] is neither base64"),
        (
            {"user_id": "ok", "message": "hi", "images": [base64.b64encode(b"a text").decode()]},
            "images[0]: not a PNG or JPEG",
        ),
        ({"user_id": "ok", "message": "hi", "images": ["iVBO"] * 5}, "at most 4"),
    ],
    ids=["user-path", "user-long", "thread", "empty", "long", "not-base64", "text", "many"],
)
def test_a_bad_id_message_or_picture_is_400_saying_what_is_wrong(
    plain: Served, model: ScriptedOpenAI, body: dict[str, object], said: str
) -> None:
    response = _chat(plain, **body)
    assert response.status_code == 400, response.text
    assert said in response.json()["detail"]
    assert model.chat_requests == []


def test_look_is_refused_while_the_servers_own_sight_is_off(plain: Served, user: str) -> None:
    response = _chat(plain, user_id=user, message="what is on my screen?", look=True)
    assert response.status_code == 403, response.text
    assert "[vision] enabled" in response.json()["detail"]


def test_pictures_sent_with_a_message_are_shown_to_the_vlm_for_that_turn(
    plain: Served, model: ScriptedOpenAI, user: str
) -> None:
    picture = io.BytesIO()
    quadrants((1600, 900), text=False).save(picture, format="PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()
    model.script(
        Reply.of("Four", " coloured", " squares."),  # the VLM describes the picture
        Reply.of("I", " see", " squares."),
    )
    response = _chat(plain, user_id=user, message="What is this?", images=[data_uri])
    assert response.status_code == 200, response.text
    assert response.json()["text_response"] == "I see squares."

    shown = [
        part["image_url"]["url"]
        for request in model.chat_requests
        for message in request.messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    assert len(shown) == 1 and shown[0].startswith("data:image/jpeg;base64,")
    jpeg = Image.open(io.BytesIO(base64.b64decode(shown[0].split(",", 1)[1])))
    assert jpeg.format == "JPEG" and max(jpeg.size) == 1280  # shrunk to vision.max_side
    reply_prompt = model.chat_requests[-1].messages[0]["content"]
    assert "Four coloured squares." in reply_prompt


def test_speech_asked_of_a_service_without_a_voice_says_why_it_is_missing(
    plain: Served, user: str
) -> None:
    asked = _chat(plain, user_id=user, message="say hi", speak=True).json()
    assert asked["audio_response_b64"] is None
    assert "no TTS server" in asked["audio_error"]
    unasked = _chat(plain, user_id=user, message="hi").json()
    assert unasked["audio_response_b64"] is None and unasked["audio_error"] is None


def test_a_model_failure_is_500_error_processing_request(
    plain: Served, model: ScriptedOpenAI, user: str
) -> None:
    model.script(Reply.failure(400, error="the prompt is too long for this model"))
    response = _chat(plain, user_id=user, message="hi")
    assert response.status_code == 500, response.text
    detail = response.json()["detail"]
    assert detail.startswith("Error processing request: ")
    assert "the prompt is too long" in detail and "Traceback" not in detail


def test_with_no_model_to_answer_chat_and_health_are_503_saying_what_to_set(
    tmp_path: Path,
) -> None:
    with served(service_env(tmp_path, None)) as service:
        response = _chat(service, user_id="ada", message="hi")
        health = httpx.get(f"{service.url}/health")
    assert response.status_code == 503, response.text
    assert "TERMMATE_LLM__URL" in response.json()["detail"]
    assert health.status_code == 503
    assert health.json() == {
        "status": "error",
        "modules": {"agent": "error", "vlm": "off", "tts": "off", "memory": "off"},
    }
