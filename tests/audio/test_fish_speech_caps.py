"""The Fish Speech client reads at most MAX_AUDIO_BYTES of an answer, whole or streamed: a server
that never stops fails with a clear reason instead of filling memory (issue 9, item 17)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import pytest

from audio.errors import TTSBadResponse, TTSRejected
from audio.fish_speech import MAX_AUDIO_BYTES, FishSpeechClient
from config import TTSSettings
from tests.support.raw_http import RawHTTPServer, endless

BOUND_S = 30.0
"""Longest a capped read may take here (64 MiB over loopback takes about a second); without
the cap the read goes on until this runs out."""
SENT_BOUND = MAX_AUDIO_BYTES + (64 << 20)
"""The server may run ahead of the client by the sockets' buffers, never by much more."""
PIECE = b"\x00\x01" * 32768


def _base(server: RawHTTPServer) -> str:
    return server.url.removesuffix("/v1")


def _too_large(server: RawHTTPServer) -> str:
    return (
        f"the TTS server at {_base(server)} answered /v1/tts with more than 64 MiB (the limit "
        "for one sentence's audio); check that [tts] url is a Fish Speech server"
    )


async def _fails_within_bound(
    server: RawHTTPServer, call: Callable[[FishSpeechClient], Awaitable[object]]
) -> TTSBadResponse:
    async with aclosing(FishSpeechClient(TTSSettings(url=_base(server)))) as client:
        with pytest.raises(TTSBadResponse) as caught:
            async with asyncio.timeout(BOUND_S):
                await call(client)
    assert server.hung_up.wait(5), "the client kept reading"
    assert server.bytes_sent < SENT_BOUND, f"the client read on: {server.bytes_sent} bytes sent"
    return caught.value


async def _consume(client: FishSpeechClient) -> None:
    async for _ in client.stream("Hello."):
        pass


async def test_a_whole_answer_declared_over_the_limit_is_refused_unread() -> None:
    with RawHTTPServer(
        endless(PIECE), content_type="audio/wav", content_length=MAX_AUDIO_BYTES + 1
    ) as server:
        error = await _fails_within_bound(server, lambda client: client.synthesize("Hello."))
        assert server.bytes_sent < MAX_AUDIO_BYTES  # refused before the body was read
    assert error.reason == _too_large(server)


async def test_an_endless_whole_answer_fails_at_the_limit() -> None:
    with RawHTTPServer(endless(PIECE), content_type="audio/wav") as server:
        error = await _fails_within_bound(server, lambda client: client.synthesize("Hello."))
    assert error.reason == _too_large(server)


async def test_an_endless_streamed_answer_fails_at_the_limit() -> None:
    with RawHTTPServer(endless(PIECE), content_type="audio/wav") as server:
        error = await _fails_within_bound(server, _consume)
    assert error.reason == _too_large(server)


async def test_an_endless_error_answer_is_read_only_for_its_message() -> None:
    body = endless(b'{"message": "text too long"}' + b" " * 65536)
    with RawHTTPServer(body, status=400) as server:
        async with aclosing(FishSpeechClient(TTSSettings(url=_base(server)))) as client:
            with pytest.raises(TTSRejected) as caught:
                async with asyncio.timeout(BOUND_S):
                    await client.synthesize("Hello.")
        assert server.hung_up.wait(5), "the client kept reading"
    assert caught.value.status_code == 400
    assert caught.value.reason.startswith(f"the TTS server at {_base(server)} rejected")
