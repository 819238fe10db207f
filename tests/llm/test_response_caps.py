"""Answers from an OpenAI-compatible server are read with a cap: an endless line or body fails
with a reason naming the URL and the limit instead of growing without bound (issue 9, item 17).
Also the SSE rules the capped line reader keeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from agent.llm.errors import BadResponse, ModelUnavailable, RequestRejected
from agent.llm.openai_http import MAX_JSON_BYTES, OpenAIClient
from agent.llm.remote import RemoteChat
from agent.llm.sse import MAX_LINE_BYTES, LineTooLong, SSEStream
from agent.llm.types import ChatRequest
from config import LLMSettings
from tests.support.raw_http import RawHTTPServer, endless

HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=16)
BOUND_S = 20.0
"""Longest a capped read may take here (each takes well under a second); without the cap the
read goes on until this runs out."""
SENT_BOUND = 64 << 20
"""The server may run ahead of the client by the sockets' buffers, never by much more."""
JSON_LIMIT = (
    "16 MiB (the limit for a JSON answer); check that [llm] url is an OpenAI-compatible server"
)


def _client(url: str) -> OpenAIClient:
    return OpenAIClient(LLMSettings(url=url, max_retries=0), section="llm", max_retries=0)


def _assert_client_hung_up(server: RawHTTPServer) -> None:
    assert server.hung_up.wait(5), "the client kept reading"
    assert server.bytes_sent < SENT_BOUND, f"the client read on: {server.bytes_sent} bytes sent"


# -- the stream --------------------------------------------------------------------------------


async def test_an_endless_stream_line_fails_at_the_limit() -> None:
    line = endless(b"data: " + b"x" * 65530)  # one line that never ends
    with RawHTTPServer(line, content_type="text/event-stream") as server:
        llm = LLMSettings(url=server.url, model="m", max_retries=0)
        remote = RemoteChat(llm, OpenAIClient(llm, section="llm", max_retries=0))
        try:
            with pytest.raises(BadResponse) as caught:
                async with asyncio.timeout(BOUND_S):
                    async for _ in remote.stream(HELLO):
                        pass
        finally:
            await remote.aclose()
        _assert_client_hung_up(server)
    assert caught.value.reason == (
        f"{server.url}/chat/completions sent a stream line longer than 1 MiB (the limit); "
        "check that [llm] url is an OpenAI-compatible server"
    )


# -- whole answers -----------------------------------------------------------------------------


async def test_a_json_answer_declared_over_the_limit_is_refused_unread() -> None:
    # A valid model list, just too large: read whole it would be accepted.
    head, tail = b'{"object": "list", "data": [{"id": "', b'"}]}'
    size = MAX_JSON_BYTES + 1024
    filler = size - len(head) - len(tail)
    body = [head, *[b"m" * (1 << 20)] * (filler >> 20), b"m" * (filler % (1 << 20)), tail]
    assert sum(map(len, body)) == size
    with RawHTTPServer(lambda: body, content_length=size) as server:
        client = _client(server.url)
        try:
            with pytest.raises(BadResponse) as caught:
                async with asyncio.timeout(BOUND_S):
                    await client.list_models()
        finally:
            await client.aclose()
        _assert_client_hung_up(server)
    assert caught.value.reason == f"{server.url}/models answered with more than {JSON_LIMIT}"


async def test_an_endless_json_answer_fails_at_the_limit() -> None:
    body = endless(b'{"data": [' + b"[0.5, 0.25]," * 5000)  # no Content-Length, no end
    with RawHTTPServer(body) as server:
        client = _client(server.url)
        try:
            with pytest.raises(BadResponse) as caught:
                async with asyncio.timeout(BOUND_S):
                    await client.post_json("/embeddings", {"input": ["hello"], "model": "m"})
        finally:
            await client.aclose()
        _assert_client_hung_up(server)
    assert caught.value.reason == f"{server.url}/embeddings answered with more than {JSON_LIMIT}"


async def test_an_endless_error_answer_is_read_only_for_its_message() -> None:
    message = json.dumps({"error": {"message": "the request is wrong"}}).encode()
    with RawHTTPServer(endless(message + b" " * 65536), status=400) as server:
        client = _client(server.url)
        try:
            with pytest.raises(RequestRejected) as caught:
                async with asyncio.timeout(BOUND_S):
                    await client.post_json("/embeddings", {"input": ["hello"]})
        finally:
            await client.aclose()
        _assert_client_hung_up(server)
    assert caught.value.status_code == 400
    assert caught.value.reason.startswith(
        f"{server.url}/embeddings rejected the request (HTTP 400)"
    )


async def test_an_answer_broken_off_is_unavailable_not_a_crash() -> None:
    # Content-Length promises more than comes before the server closes the connection.
    with RawHTTPServer(lambda: [b'{"data": ['], content_length=1000) as server:
        client = _client(server.url)
        try:
            with pytest.raises(ModelUnavailable) as caught:
                await client.list_models()
        finally:
            await client.aclose()
    assert caught.value.reason == f"{server.url}/models: the connection was lost"


# -- the SSE rules, over the capped line reader ------------------------------------------------


async def _chunks(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _events(*pieces: bytes, max_line_bytes: int = MAX_LINE_BYTES) -> tuple[list[str], bool]:
    stream = SSEStream(_chunks(*pieces), max_line_bytes=max_line_bytes)
    return [data async for data in stream], stream.done


async def test_comments_multi_line_data_and_blank_lines() -> None:
    events, done = await _events(
        b": keep-alive\n\n",
        b"event: message\ndata: first\ndata:  second line\n\n",
        b"id: 7\ndata:{}\n\n",
        b"data: [DONE]\n\n",
        b"data: after done is never read\n\n",
    )
    assert events == ["first\n second line", "{}"]
    assert done


async def test_line_ends_of_every_kind_even_split_across_chunks() -> None:
    events, done = await _events(
        b"data: crlf\r",
        b"\n\r\ndata: lone",
        b" cr\r\rdata: spl",
        b"it\n",
        b"\ndata: [DO",
        b"NE]\r\n\r\n",
    )
    assert events == ["crlf", "lone cr", "split"]
    assert done


async def test_a_stream_without_done_says_so() -> None:
    events, done = await _events(b"data: one\n\ndata: two\n\n")
    assert (events, done) == (["one", "two"], False)
    events, done = await _events(b"data: last, without a blank line")
    assert (events, done) == (["last, without a blank line"], False)


async def test_a_line_of_exactly_the_limit_passes_and_one_byte_more_fails() -> None:
    line = b"data: " + b"y" * 94  # 100 bytes
    events, _ = await _events(line[:50], line[50:] + b"\r\n\r\n", max_line_bytes=100)
    assert events == ["y" * 94]
    with pytest.raises(LineTooLong) as caught:
        await _events(line + b"y", b"\n\n", max_line_bytes=100)
    assert caught.value.limit == 100
