"""A user's conversations over HTTP: listed, read (the JSON of `termmate show --json`) and
deleted, checkpoints and metadata together."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.support.cli import run_termmate
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.served import Served, served, service_env


def _chat(service: Served, user: str, message: str, thread_id: str | None = None) -> str:
    body = {"user_id": user, "message": message, "thread_id": thread_id}
    response = httpx.post(f"{service.url}/v1/chat", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["thread_id"]


def test_a_conversation_reads_exactly_as_termmate_show_json_prints_it(tmp_path: Path) -> None:
    with ScriptedOpenAI(default=Reply.of("Hi", " Ada.")) as model:
        env = service_env(tmp_path, model.url, USER_ID="ada")
        with served(env) as service:
            thread = _chat(service, "ada", "Hello, I am Ada")
            _chat(service, "ada", "Still me", thread)
            listed = httpx.get(f"{service.url}/v1/threads", params={"user_id": "ada"}).json()
            shown = httpx.get(f"{service.url}/v1/threads/{thread}", params={"user_id": "ada"})
        cli = run_termmate(env, "show", thread, "--json")
    assert cli.returncode == 0, cli.stderr
    assert shown.json() == cli.json()
    [summary] = listed["threads"]
    assert (summary["id"], summary["title"], summary["turns"]) == (thread, "Hello, I am Ada", 2)
    assert set(summary) == {"id", "title", "created_at", "updated_at", "turns"}


def test_a_stopped_reply_is_marked_stopped_as_in_termmate_show(
    plain: Served, model: ScriptedOpenAI, user: str
) -> None:
    model.script(Reply(words=words_of("Slowly " + "and surely " * 80), token_delay_s=0.05))
    results: dict[str, httpx.Response] = {}

    def ask() -> None:
        results["reply"] = httpx.post(
            f"{plain.url}/v1/chat", json={"user_id": user, "message": "go on"}, timeout=60
        )

    asking = threading.Thread(target=ask)
    asking.start()
    model.wait_for(lambda requests: any(r.path.endswith("/completions") for r in requests))
    [thread] = [t["id"] for t in _threads(plain, user)]
    assert httpx.post(f"{plain.url}/v1/threads/{thread}/stop", params={"user_id": user}).json() == {
        "stopped": True
    }
    asking.join(60)
    assert results["reply"].json()["stopped"] is True
    messages = httpx.get(f"{plain.url}/v1/threads/{thread}", params={"user_id": user}).json()[
        "messages"
    ]
    assert "stopped" not in messages[0] and messages[1]["stopped"] is True


def test_deleting_a_conversation_forgets_it_but_not_while_a_reply_is_written(
    plain: Served, model: ScriptedOpenAI, user: str
) -> None:
    keep = _chat(plain, user, "keep this one")
    drop = _chat(plain, user, "drop this one")

    model.script(Reply.of("Slow", " reply.", first_token_delay_s=2.0))
    asked = len(model.chat_requests)
    asking = threading.Thread(target=_chat, args=(plain, user, "more", drop))
    asking.start()
    model.wait_for(lambda requests: len([r for r in requests if "/chat/" in r.path]) > asked)
    busy = httpx.delete(f"{plain.url}/v1/threads/{drop}", params={"user_id": user})
    asking.join(60)
    assert busy.status_code == 409, busy.text

    deleted = httpx.delete(f"{plain.url}/v1/threads/{drop}", params={"user_id": user})
    assert deleted.status_code == 200 and deleted.json() == {"deleted": drop}
    assert [t["id"] for t in _threads(plain, user)] == [keep]
    gone = httpx.get(f"{plain.url}/v1/threads/{drop}", params={"user_id": user})
    assert gone.status_code == 404
    again = httpx.post(
        f"{plain.url}/v1/chat", json={"user_id": user, "thread_id": drop, "message": "hi"}
    )
    assert again.status_code == 404


def _threads(service: Served, user: str) -> list[dict[str, object]]:
    response = httpx.get(f"{service.url}/v1/threads", params={"user_id": user})
    assert response.status_code == 200, response.text
    return response.json()["threads"]
