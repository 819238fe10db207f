"""Streamed replies reuse one connection to the model server: a reply read to its [DONE] gives
its connection back to the pool, so no turn pays a new TCP (or TLS) handshake."""

from __future__ import annotations

from agent.llm.openai_http import OpenAIClient
from agent.llm.remote import RemoteChat
from agent.llm.types import ChatRequest
from config import LLMSettings
from tests.support.scripted_openai import Reply, ScriptedOpenAI

HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=16)


async def test_three_streamed_replies_use_one_connection(scripted: ScriptedOpenAI) -> None:
    llm = LLMSettings(url=scripted.url, max_retries=0)
    remote = RemoteChat(llm, OpenAIClient(llm, section="llm", max_retries=0))
    scripted.set_default(Reply.of("One", " reply."))
    try:
        replies = ["".join([piece async for piece in remote.stream(HELLO)]) for _ in range(3)]
    finally:
        await remote.aclose()
    assert replies == ["One reply."] * 3
    assert len(scripted.chat_requests) == 3
    assert scripted.connections_accepted == 1
