"""Retries and errors of the remote backend, against a scripted OpenAI-compatible server."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.llm.errors import ModelUnavailable, RateLimited, RequestRejected
from agent.llm.openai_http import OpenAIClient
from agent.llm.remote import RemoteChat
from agent.llm.retry import Backoff, parse_retry_after
from agent.llm.types import ChatRequest
from config import LLMSettings
from tests.support.cli import run_termmate
from tests.support.llama_server import free_port
from tests.support.scripted_openai import Reply, ScriptedOpenAI

HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=16)
KEY = "sk-termmate-test-9f8e7d6c5b4a"
# Quick backoff so the tests measure Retry-After, not our own jitter.
QUICK = Backoff(base_s=0.02, cap_s=0.1)


def _remote(url: str, **settings: object) -> RemoteChat:
    llm = LLMSettings(url=url, **settings)
    return RemoteChat(
        llm, OpenAIClient(llm, section="llm", max_retries=llm.max_retries, backoff=QUICK)
    )


async def _ask(remote: RemoteChat, request: ChatRequest = HELLO) -> str:
    try:
        return "".join([piece async for piece in remote.stream(request)])
    finally:
        await remote.aclose()


async def test_429_with_retry_after_then_503_then_200_succeeds(scripted: ScriptedOpenAI) -> None:
    scripted.script(
        Reply.failure(429, retry_after="1"),
        Reply.failure(503),
        Reply.of("made", " it", " through"),
    )
    started = time.monotonic()
    text = await _ask(_remote(scripted.url, max_retries=3))
    elapsed = time.monotonic() - started

    assert text == "made it through"
    first, second, third = scripted.chat_requests  # exactly three requests
    waited = second.at - first.at
    assert 1.0 <= waited < 1.5, f"Retry-After: 1 was honoured as {waited:.3f} s"
    assert third.at - second.at < 0.5  # a 503 without Retry-After: our own (short) backoff
    assert elapsed < 3.0


async def test_a_retry_after_date_is_honoured() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("soon") is None


async def test_a_retry_after_too_long_to_wait_gives_up_at_once(scripted: ScriptedOpenAI) -> None:
    scripted.script(Reply.failure(429, retry_after="3600"))
    with pytest.raises(RateLimited) as caught:
        await _ask(_remote(scripted.url, max_retries=3))
    assert len(scripted.chat_requests) == 1
    assert caught.value.retry_after_s == 3600
    assert "rate-limiting" in caught.value.reason and "3600 s" in caught.value.reason


async def test_a_400_is_not_retried(scripted: ScriptedOpenAI) -> None:
    scripted.script(Reply.failure(400, error="max_tokens is too large"), Reply.of("never"))
    with pytest.raises(RequestRejected) as caught:
        await _ask(_remote(scripted.url, max_retries=3))
    assert len(scripted.chat_requests) == 1
    assert caught.value.status_code == 400
    assert "HTTP 400" in caught.value.reason and "max_tokens is too large" in caught.value.reason


async def test_a_401_names_the_api_key_setting(scripted: ScriptedOpenAI) -> None:
    scripted.script(Reply.failure(401, error="bad key"))
    with pytest.raises(RequestRejected) as caught:
        await _ask(_remote(scripted.url, max_retries=3))
    assert len(scripted.chat_requests) == 1
    assert "[llm] api_key" in caught.value.reason
    assert "TERMMATE_LLM__API_KEY" in caught.value.reason


async def test_5xx_is_retried_then_reported_as_unavailable(scripted: ScriptedOpenAI) -> None:
    scripted.set_default(Reply.failure(503, error="overloaded"))
    with pytest.raises(ModelUnavailable) as caught:
        await _ask(_remote(scripted.url, max_retries=2))
    assert not isinstance(caught.value, RequestRejected)
    assert len(scripted.chat_requests) == 3
    assert "HTTP 503" in caught.value.reason and "overloaded" in caught.value.reason


async def test_connection_refused_is_unavailable_with_a_human_reason() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelUnavailable) as caught:
        await _ask(_remote(url, model="m", max_retries=1))
    assert caught.value.reason == (
        f"{url}/chat/completions: connection refused (is the server running?)"
    )


async def test_silence_between_chunks_longer_than_timeout_s_is_unavailable(
    scripted: ScriptedOpenAI,
) -> None:
    scripted.script(Reply.of("one", " two", " three", stall_after=1, stall_s=5))
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as caught:
        await _ask(_remote(scripted.url, timeout_s=0.3, max_retries=3))
    assert time.monotonic() - started < 2.0
    assert "no data for 0.3 s (timeout_s)" in caught.value.reason
    assert len(scripted.chat_requests) == 1  # the stream had begun: no retry


async def test_slow_words_within_timeout_s_are_fine(scripted: ScriptedOpenAI) -> None:
    words = ("slow", " but", " steady")
    scripted.script(Reply.of(*words, first_token_delay_s=0.2, token_delay_s=0.2))
    assert await _ask(_remote(scripted.url, timeout_s=0.5)) == "slow but steady"


async def test_a_connection_cut_mid_stream_is_unavailable_and_not_retried(
    scripted: ScriptedOpenAI,
) -> None:
    scripted.script(Reply.of("a", " b", " c", " d", drop_after=2))
    received: list[str] = []
    remote = _remote(scripted.url, max_retries=3)
    with pytest.raises(ModelUnavailable) as caught:
        try:
            async for piece in remote.stream(HELLO):
                received.append(piece)
        finally:
            await remote.aclose()
    assert received == ["a", " b"]
    assert "the connection was lost" in caught.value.reason
    assert len(scripted.chat_requests) == 1


async def test_the_request_is_what_openai_compatible_servers_expect(
    scripted: ScriptedOpenAI,
) -> None:
    from agent.llm.structured import schema_for
    from agent.nodes.reason_and_plan import PlanChoice

    scripted.script(Reply.of('{"action": "silence", "reason": "nothing to say"}'))
    request = ChatRequest(
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        max_tokens=33,
        temperature=0.25,
        json_schema=schema_for(PlanChoice),
    )
    await _ask(_remote(scripted.url, model="my-model"), request)
    sent = scripted.chat_requests[0]
    assert sent.body["model"] == "my-model"
    assert sent.body["stream"] is True
    assert sent.body["max_tokens"] == 33 and sent.body["temperature"] == 0.25
    assert sent.messages == request.messages
    assert sent.response_format == {
        "type": "json_schema",
        "json_schema": {
            "name": "PlanChoice",
            "schema": schema_for(PlanChoice).schema,
            "strict": True,
        },
    }
    assert sent.authorization is None  # no key configured: no header


async def test_the_bearer_key_is_sent_and_never_logged_or_shown(
    scripted: ScriptedOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, httpx and httpcore included
    with ScriptedOpenAI(api_key=KEY) as guarded:
        guarded.script(Reply.of("welcome"), Reply.failure(503), Reply.of("again"))
        assert await _ask(_remote(guarded.url, api_key=KEY, max_retries=2)) == "welcome"
        assert await _ask(_remote(guarded.url, api_key=KEY, max_retries=2)) == "again"
        assert {r.authorization for r in guarded.requests} == {f"Bearer {KEY}"}

        # A wrong key: refused, and the message names the setting, not the key.
        with pytest.raises(RequestRejected) as caught:
            await _ask(_remote(guarded.url, api_key=KEY + "-wrong"))
    assert "api_key" in caught.value.reason and KEY not in caught.value.reason

    settings = LLMSettings(url=scripted.url, api_key=SecretStr(KEY))
    shown = [repr(settings), str(settings), settings.model_dump_json()]
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert not [text for text in shown + logged if KEY in text]
    assert any("retrying" in text for text in logged)  # the retry was logged, without the key


def test_the_cli_never_shows_or_logs_the_key(termmate_env: dict[str, str], tmp_path: Path) -> None:
    with ScriptedOpenAI(api_key=KEY + "-other") as guarded:
        env = {
            **termmate_env,
            "TERMMATE_MODE": "online",
            "TERMMATE_LLM__URL": guarded.url,
            "TERMMATE_LLM__MODEL": "m",
            "TERMMATE_LLM__API_KEY": KEY,
        }
        done = run_termmate(env, "ask", "hello")
        assert guarded.chat_requests[0].authorization == f"Bearer {KEY}"
    assert done.returncode == 1
    assert "TERMMATE_LLM__API_KEY" in done.stderr and "Traceback" not in done.stderr
    log = (Path(termmate_env["TERMMATE_DATA_DIR"]) / "logs" / "termmate.log").read_text()
    assert KEY not in done.stdout + done.stderr + log
