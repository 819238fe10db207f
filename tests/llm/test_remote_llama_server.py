"""The remote backend against a real OpenAI-compatible peer: llama-cpp-python's server."""

from __future__ import annotations

import pytest

from agent.llm.chat import chat_models
from agent.llm.structured import complete_json
from agent.llm.types import ChatRequest, ModelRouted
from agent.nodes.reason_and_plan import PlanChoice
from config import LLMSettings, load_settings
from tests.support.llama_server import LlamaServer

CHAT = "/v1/chat/completions"


def _new_posts(server: LlamaServer, before: int) -> list[tuple[str, str, int]]:
    return [entry for entry in server.access_log()[before:] if entry[1] == CHAT]


async def test_remote_streams_a_reply_from_llama_cpp_server(llama_server: LlamaServer) -> None:
    from agent.llm.remote import RemoteChat

    remote = RemoteChat(LLMSettings(url=llama_server.url, model="tiny-remote"))
    try:
        before = len(llama_server.access_log())
        request = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=24)
        pieces = [piece async for piece in remote.stream(request)]
    finally:
        await remote.aclose()
    assert len(pieces) > 1, "the reply arrives in pieces, as the server streams it"
    assert "".join(pieces).strip()
    assert _new_posts(llama_server, before) == [("POST", CHAT, 200)]


async def test_the_model_is_discovered_from_v1_models_when_none_is_set(
    llama_server: LlamaServer,
) -> None:
    from agent.llm.remote import RemoteChat

    remote = RemoteChat(LLMSettings(url=llama_server.url))
    assert remote.label == "(server default)"
    try:
        before = len(llama_server.access_log())
        request = ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        assert [piece async for piece in remote.stream(request)]
        second = [piece async for piece in remote.stream(request)]
    finally:
        await remote.aclose()
    assert second
    assert remote.label == "tiny-remote"
    # Asked once, then remembered: GET /v1/models before the first chat request only.
    assert llama_server.access_log()[before:] == [
        ("GET", "/v1/models", 200),
        ("POST", CHAT, 200),
        ("POST", CHAT, 200),
    ]


async def test_json_schema_output_from_the_server_validates_and_the_dialect_is_learnt(
    llama_server: LlamaServer, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama-cpp-python's server takes only {"type": "json_object", "schema": ...}.

    It rejects OpenAI's json_schema once (HTTP 500 with a validation error: not a server
    failure, so not retried); RemoteChat then switches and keeps the working form.
    """
    monkeypatch.setenv("TERMMATE_MODE", "online")  # no local fallback could hide a failure
    monkeypatch.setenv("TERMMATE_LLM__URL", llama_server.url)
    settings = load_settings()
    router = chat_models(settings)
    messages = [{"role": "user", "content": "Should you speak up now?"}]
    try:
        before = len(llama_server.access_log())
        choice, routed = await complete_json(router, messages, PlanChoice)
        first = _new_posts(llama_server, before)
        before = len(llama_server.access_log())
        again, routed_again = await complete_json(router, messages, PlanChoice)
        second = _new_posts(llama_server, before)
        assert router.remote is not None
        assert router.remote.settings.url == llama_server.url
    finally:
        await router.aclose()

    assert isinstance(choice, PlanChoice) and isinstance(again, PlanChoice)
    assert routed == ModelRouted("remote", "tiny-remote") and routed_again.backend == "remote"
    assert not router.local.worker.loaded
    # The first call: one rejection of json_schema (not retried), then json_object succeeds.
    assert len(first) == 2 and first[1][2] == 200
    assert first[0][2] in (400, 422, 500)
    assert second == [("POST", CHAT, 200)]  # learnt: straight to the form that works
