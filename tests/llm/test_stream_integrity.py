"""A reply stream is complete only with [DONE] or a finish_reason: one that just stops is a
failed stream, never a whole reply (issue 9, item 3)."""

from __future__ import annotations

import pytest

from agent.llm.errors import ModelUnavailable
from agent.llm.openai_http import OpenAIClient
from agent.llm.remote import RemoteChat
from agent.llm.types import ChatRequest
from config import LLMSettings
from tests.support.cli import Run, run_termmate
from tests.support.scripted_openai import Reply, ScriptedOpenAI

HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=16)
# Five words; the server gives up cleanly after the first two.
CUT_SHORT = Reply.of("Half", " a", " sentence", " and", " more.", end_after=2)


def _remote(url: str) -> RemoteChat:
    llm = LLMSettings(url=url, max_retries=0)
    return RemoteChat(llm, OpenAIClient(llm, section="llm", max_retries=0))


async def _collect(remote: RemoteChat, received: list[str]) -> None:
    try:
        async for piece in remote.stream(HELLO):
            received.append(piece)
    finally:
        await remote.aclose()


async def test_a_stream_that_just_stops_is_unavailable_with_the_reason(
    scripted: ScriptedOpenAI,
) -> None:
    scripted.script(CUT_SHORT)
    received: list[str] = []
    with pytest.raises(ModelUnavailable) as caught:
        await _collect(_remote(scripted.url), received)
    assert received == ["Half", " a"]
    assert caught.value.reason == (
        f"{scripted.url}/chat/completions: the reply stream ended before it was complete "
        "(no [DONE])"
    )


async def test_a_finish_reason_without_done_is_a_complete_reply(
    scripted: ScriptedOpenAI,
) -> None:
    scripted.script(Reply.of("Some", " servers", " never", " say", " DONE.", send_done=False))
    received: list[str] = []
    await _collect(_remote(scripted.url), received)
    assert "".join(received) == "Some servers never say DONE."


def _env(base: dict[str, str], url: str, mode: str) -> dict[str, str]:
    return {
        **base,
        "TERMMATE_MODE": mode,
        "TERMMATE_LLM__URL": url,
        "TERMMATE_LLM__MAX_RETRIES": "0",
        "TERMMATE_LLM__TIMEOUT_S": "10",
    }


def _shown(env: dict[str, str], thread_id: str) -> list[dict]:
    shown = run_termmate(env, "show", "--json", thread_id)
    assert shown.returncode == 0, shown.stderr
    return shown.json()["messages"]


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr + run.stdout, run.stderr


def test_online_ask_fails_a_reply_cut_short_and_saves_no_reply(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str]
) -> None:
    scripted.script(CUT_SHORT)
    env = _env(termmate_env, scripted.url, "online")
    run = run_termmate(env, "ask", "--json", "--thread", "t-cut-online", "hello")
    _no_traceback(run)
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "the reply stream ended before it was complete (no [DONE])" in run.stderr
    assert f"{scripted.url}/chat/completions" in run.stderr
    assert run.stdout == ""

    messages = _shown(env, "t-cut-online")
    assert [m["role"] for m in messages] == ["user"]  # the question stays, no reply
    assert not [m for m in messages if m["role"] == "assistant" and not m.get("stopped")]


def test_auto_ask_answers_a_reply_cut_short_with_the_local_model(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str]
) -> None:
    scripted.script(CUT_SHORT)
    env = _env(termmate_env, scripted.url, "auto")
    run = run_termmate(env, "ask", "--json", "--thread", "t-cut-auto", "hello")
    _no_traceback(run)
    assert run.returncode == 0, run.stderr
    answer = run.json()
    assert answer["backend"] == "local"
    assert "no [DONE]" in answer["fallback_reason"]
    assert "lost mid-reply" in run.stderr
    assert len(scripted.chat_requests) == 1  # the same turn was answered locally, not re-sent

    messages = _shown(env, "t-cut-auto")
    assert [m["role"] for m in messages] == ["user", "assistant"]
    reply = messages[-1]
    assert reply["content"] == answer["text_response"] and not reply.get("stopped")
    assert not reply["content"].startswith("Half a")
