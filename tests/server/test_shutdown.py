"""SIGTERM: the service stops taking requests, lets replies finish within shutdown_grace_s,
then stops them (saved, marked stopped), and exits 0; stdout never holds more than the
ready line."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_termmate
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.served import service_env, sse_events, start_served

SLOW_ANSWER = "Slowly " + "and surely " * 100


def test_sigterm_mid_reply_saves_the_partial_reply_stopped_and_exits_0(tmp_path: Path) -> None:
    with ScriptedOpenAI(Reply(words=words_of(SLOW_ANSWER), token_delay_s=0.05)) as model:
        env = service_env(tmp_path, model.url, USER_ID="ada", SERVER__SHUTDOWN_GRACE_S="0.5")
        service = start_served(env)
        try:
            events = []
            with httpx.stream(
                "POST",
                f"{service.url}/v1/chat/stream",
                json={"user_id": "ada", "message": "tell me slowly"},
                timeout=60,
            ) as response:
                for name, data in sse_events(response.iter_lines()):
                    events.append((name, data))
                    if name == "token" and data["text"] == " surely":
                        service.signal(signal.SIGTERM)
            code = service.wait(60)
        finally:
            if service.returncode is None:
                service.process.kill()
    assert code == 0, service.stderr()
    assert service.stdout_rest == b""
    assert "Traceback" not in service.stderr()
    thread_id = events[0][1]["thread_id"]
    name, end = events[-1]
    assert name == "end" and end["stopped"] is True
    assert end["text_response"].startswith("Slowly and surely")

    shown = run_termmate(env, "show", thread_id, "--json")
    assert shown.returncode == 0, shown.stderr
    user, reply = shown.json()["messages"]
    assert user["content"] == "tell me slowly"
    assert reply.get("stopped") is True
    assert reply["content"] == end["text_response"] != SLOW_ANSWER


def test_a_reply_that_ends_within_the_grace_is_answered_whole_and_no_new_one_starts(
    tmp_path: Path,
) -> None:
    answer = "All of it arrives."
    reply = Reply(words=words_of(answer), first_token_delay_s=0.3, token_delay_s=0.3)
    with ScriptedOpenAI(reply) as model:
        service = start_served(service_env(tmp_path, model.url))
        try:
            results: dict[str, httpx.Response] = {}

            def ask() -> None:
                results["answer"] = httpx.post(
                    f"{service.url}/v1/chat",
                    json={"user_id": "ada", "message": "take your time"},
                    timeout=60,
                )

            asking = threading.Thread(target=ask)
            asking.start()
            model.wait_for(lambda requests: any(r.path.endswith("/completions") for r in requests))
            service.signal(signal.SIGTERM)
            asking.join(60)
            code = service.wait(60)
        finally:
            if service.returncode is None:
                service.process.kill()
    assert code == 0, service.stderr()
    response = results["answer"]
    assert response.status_code == 200, response.text
    assert response.json()["text_response"] == answer
    assert response.json()["stopped"] is False
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{service.url}/health")
