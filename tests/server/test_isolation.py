"""Users are kept apart: another user's conversation is, to every endpoint, one that does not
exist (404), and one user's memories never reach another user's prompt."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import Served, served, service_env
from tests.support.word_embedder import WordOverlapEmbedder

FACT = "The user keeps bees on the roof"
QUESTION = "Do you remember the bees on the roof?"


def test_another_users_conversation_is_404_everywhere(plain: Served, user: str) -> None:
    mine = httpx.post(
        f"{plain.url}/v1/chat", json={"user_id": user, "message": "my secret plans"}, timeout=60
    ).json()["thread_id"]
    other = "someone-else"
    attempts = [
        httpx.post(
            f"{plain.url}/v1/chat",
            json={"user_id": other, "thread_id": mine, "message": "let me in"},
        ),
        httpx.post(
            f"{plain.url}/v1/chat/stream",
            json={"user_id": other, "thread_id": mine, "message": "let me in"},
        ),
        httpx.get(f"{plain.url}/v1/threads/{mine}", params={"user_id": other}),
        httpx.delete(f"{plain.url}/v1/threads/{mine}", params={"user_id": other}),
        httpx.post(f"{plain.url}/v1/threads/{mine}/stop", params={"user_id": other}),
    ]
    missing = httpx.get(f"{plain.url}/v1/threads/t-0000000000", params={"user_id": other})
    for attempt in attempts:
        assert attempt.status_code == 404, attempt.text
        # Exactly what a conversation that does not exist gets, but for its id.
        assert attempt.json()["detail"] == missing.json()["detail"].replace("t-0000000000", mine)
    assert httpx.get(f"{plain.url}/v1/threads", params={"user_id": other}).json() == {"threads": []}
    shown = httpx.get(f"{plain.url}/v1/threads/{mine}", params={"user_id": user}).json()
    assert shown["messages"][0]["content"] == "my secret plans"


def test_one_users_memories_never_reach_another_users_prompt(tmp_path: Path) -> None:
    fact = {"facts": [{"text": FACT, "category": "hobbies"}]}
    with ScriptedOpenAI(
        Reply.of("Bees", " are", " lovely."),
        Reply.of_json(fact),  # what update_memory learns from Ada's message
        embedder=WordOverlapEmbedder().vector,
    ) as model:
        env = service_env(tmp_path, model.url, EMBED__URL=model.url, MEMORY__ENABLED="true")
        with served(env) as service:
            told = _chat(service, "ada", "I keep bees on my roof")
            assert told.status_code == 200, told.text

            # Ada's own next turns find the fact once update_memory has written it.
            _until_remembered(service, model, "ada")

            bobs = _chat(service, "bob", QUESTION)
            assert bobs.status_code == 200, bobs.text
            assert bobs.json()["memory"] == "searched"  # Bob's memory was searched: nothing
            assert "bees" not in _reply_prompt(model, QUESTION)  # the system prompt


def _chat(service: Served, user: str, message: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/v1/chat", json={"user_id": user, "message": message}, timeout=60
    )


def _reply_prompt(model: ScriptedOpenAI, question: str) -> str:
    """The system prompt of the last reply to ``question``."""
    replies = [
        r
        for r in model.chat_requests
        if r.response_format is None and r.messages[-1]["content"] == question
    ]
    return replies[-1].messages[0]["content"]


def _until_remembered(service: Served, model: ScriptedOpenAI, user: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = _chat(service, user, QUESTION)
        assert answer.status_code == 200, answer.text
        if FACT in _reply_prompt(model, QUESTION):
            return
        time.sleep(0.2)
    raise AssertionError(f"{user}'s fact never reached {user}'s own prompt")
