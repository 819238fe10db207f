"""The one remote→local policy (agent/llm/fallback.py), driven the same way for every model it
serves: chat, sight, embeddings and hearing.

In auto mode: the remote answers → it dies → the local model answers the same call, with the
reason → while the remote is down only a cheap probe goes to it → it returns → the probe notices
and the next call goes to it → once it is healthy and idle, nothing polls. Offline never builds
the remote; online shows the remote's error instead of falling back.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.llm.chat import chat_models, complete_chat
from agent.llm.embeddings import embedding_models
from agent.llm.errors import ModelUnavailable, RequestRejected
from agent.llm.fallback import Fallback
from agent.llm.hearing import speech_models, transcribe
from agent.llm.types import ChatRequest
from agent.llm.vision import vision_models
from config import Mode, Settings
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.waiting import eventually
from tests.support.word_embedder import WordOverlapEmbedder

RETRY_S = 0.2
"""retry_remote_after_s in these tests: the probe's interval while falling back."""


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


class Server:
    """What these tests do with a scripted server, whichever protocol it speaks."""

    def __init__(self, scripted: ScriptedOpenAI | ScriptedASR) -> None:
        self.scripted = scripted
        self.url = scripted.url

    def stop(self) -> None:
        self.scripted.stop()

    def start(self) -> None:
        self.scripted.start()

    @property
    def paths(self) -> list[str]:
        if isinstance(self.scripted, ScriptedASR):
            return self.scripted.paths
        return [request.path for request in self.scripted.requests]

    def clear(self) -> None:
        if isinstance(self.scripted, ScriptedASR):
            self.scripted.clear()
        else:
            self.scripted.clear_requests()


@dataclass
class Kind:
    """One model the policy serves: its server, how to build it and make one call."""

    name: str
    section: str
    build: Callable[[Settings], Fallback[Any, Any]]
    call: Callable[[Fallback[Any, Any], dict[str, Any]], Awaitable[Any]]
    local: Callable[[Any], dict[str, Any]]
    """The local-model settings, from the fixtures' files."""
    serve: Callable[[], AbstractContextManager[ScriptedOpenAI | ScriptedASR]]


def _openai_server() -> ScriptedOpenAI:
    return ScriptedOpenAI(
        default=Reply.of("The", " remote", " answer."), embedder=WordOverlapEmbedder(32).vector
    )


async def _chat(models: Fallback[Any, Any], files: dict[str, Any]) -> tuple[str, str]:
    request = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=8)
    text, routed = await complete_chat(models, request)
    return routed.backend, text


async def _embed(models: Fallback[Any, Any], files: dict[str, Any]) -> tuple[str, Any]:
    vectors, choice = await models.call(lambda model: model.embed(["coffee"]))
    return ("remote" if choice.remote else "local"), vectors


async def _describe(models: Fallback[Any, Any], files: dict[str, Any]) -> tuple[str, str]:
    text, choice = await models.call(lambda model: model.describe(_jpeg(), "what is this?"))
    return ("remote" if choice.remote else "local"), text


async def _transcribe(models: Any, files: dict[str, Any]) -> tuple[str, str]:
    transcript = await transcribe(models, files["speech"].english.read_bytes())
    return transcript.backend, transcript.text


KINDS = [
    Kind(
        "chat",
        "llm",
        chat_models,
        _chat,
        lambda files: {"chat_model": str(files["chat"])},
        _openai_server,
    ),
    Kind(
        "embeddings",
        "embed",
        embedding_models,
        _embed,
        lambda files: {"embed_model": str(files["embed"])},
        _openai_server,
    ),
    Kind(
        "sight",
        "vlm",
        vision_models,
        _describe,
        lambda files: {
            "vision_model": str(files["vlm"][0]),
            "vision_mmproj": str(files["vlm"][1]),
            "n_ctx": 512,
        },
        _openai_server,
    ),
    Kind(
        "hearing",
        "asr",
        speech_models,
        _transcribe,
        lambda files: {"asr_model": str(files["whisper"])},
        lambda: ScriptedASR(default=Heard("the remote words")),
    ),
]


@pytest.fixture
def model_files(
    tiny_gguf: Path,
    tiny_embed_gguf: Path,
    tiny_vlm: tuple[Path, Path],
    tiny_whisper: Path,
    speech: Any,
) -> dict[str, Any]:
    return {
        "chat": tiny_gguf,
        "embed": tiny_embed_gguf,
        "vlm": tiny_vlm,
        "whisper": tiny_whisper,
        "speech": speech,
    }


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    kind: Kind = request.node.callspec.params["kind"]
    with kind.serve() as scripted:
        yield Server(scripted)


def _settings(kind: Kind, tmp_path: Path, url: str, files: dict[str, Any], mode: str) -> Settings:
    section = {"url": url, "max_retries": 0, "retry_remote_after_s": RETRY_S}
    return Settings(
        data_dir=tmp_path / "data", mode=mode, local=kind.local(files), **{kind.section: section}
    )


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
async def test_auto_falls_back_with_the_reason_and_returns_when_the_remote_does(
    kind: Kind, server: Server, model_files: dict[str, Any], tmp_path: Path
) -> None:
    changes: list[str] = []
    models = kind.build(_settings(kind, tmp_path, server.url, model_files, "auto"))
    models._on_change = lambda: changes.append(models.answering() or "")
    try:
        backend, _ = await kind.call(models, model_files)
        assert backend == "remote" and models.fallback_reason is None
        assert models.statuses()[0].state == "ok"

        server.stop()  # the remote dies
        backend, answer = await kind.call(models, model_files)
        assert backend == "local" and answer  # the same call, answered locally
        reason = models.fallback_reason
        assert reason and "connection refused" in reason
        remote_line, _ = models.statuses()
        # (The line says the latest probe's words, which may already be the next attempt's.)
        assert remote_line.state == "unreachable" and "connection refused" in remote_line.detail
        assert models.label.endswith(f"(fallback: {reason})")

        server.clear()
        server.start()  # back on the same port
        await eventually(lambda: models.answering() == "remote", timeout_s=10, what="the probe")
        assert server.paths == ["/v1/models"], "only the probe asked"
        assert "remote" in changes, "the front ends heard the remote was back"

        backend, _ = await kind.call(models, model_files)
        assert backend == "remote" and models.fallback_reason is None
        server.clear()
        await asyncio.sleep(RETRY_S * 4)
        assert server.paths == [], "nothing polls while the remote is healthy and idle"
    finally:
        await models.aclose()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "termmate-probe"]


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
async def test_online_reports_the_remote_error_and_offline_never_builds_the_remote(
    kind: Kind, server: Server, model_files: dict[str, Any], tmp_path: Path
) -> None:
    server.stop()
    online = kind.build(_settings(kind, tmp_path, server.url, model_files, "online"))
    try:
        with pytest.raises(ModelUnavailable, match="connection refused"):
            await kind.call(online, model_files)
        assert online.fallback_reason is None and not online.local.loaded
    finally:
        await online.aclose()

    server.start()
    offline = kind.build(_settings(kind, tmp_path, server.url, model_files, "offline"))
    try:
        assert offline.remote is None
        backend, _ = await kind.call(offline, model_files)
        assert backend == "local"
        await offline.set_mode(Mode.AUTO)  # the remote is built only when the mode allows it
        assert offline.remote is not None
        await offline.set_mode(Mode.OFFLINE)  # and closed at once when it no longer does
        assert offline.remote is None
    finally:
        await offline.aclose()
    assert server.paths == []


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
async def test_recheck_sees_a_remote_come_back_even_in_online_mode(
    kind: Kind, server: Server, model_files: dict[str, Any], tmp_path: Path
) -> None:
    """Online mode never falls back, so nothing probes on its own; a health check's recheck
    (at most every retry_remote_after_s, in the background) still sees the remote return."""
    models = kind.build(_settings(kind, tmp_path, server.url, model_files, "online"))
    try:
        server.stop()
        with pytest.raises(ModelUnavailable):
            await kind.call(models, model_files)
        assert models.statuses()[0].state == "unreachable"
        server.clear()
        server.start()
        await asyncio.sleep(RETRY_S * 2)
        assert server.paths == [], "online mode does not probe by itself"
        models.recheck()
        await eventually(lambda: models.statuses()[0].state == "ok", timeout_s=10)
        assert server.paths == ["/v1/models"]
        models.recheck()  # healthy: nothing to ask
        await asyncio.sleep(RETRY_S * 2)
        assert server.paths == ["/v1/models"]
    finally:
        await models.aclose()


async def test_a_request_the_server_refuses_leaves_the_remote_healthy(
    model_files: dict[str, Any], tmp_path: Path
) -> None:
    """A 400 is about one request (too long, a bad parameter), not about the server: the
    status stays ok (a health check stays 200) and the next request goes to the remote."""
    kind = KINDS[0]
    with _openai_server() as scripted:
        models = kind.build(_settings(kind, tmp_path, scripted.url, model_files, "online"))
        try:
            scripted.script(Reply.failure(400, error="prompt is too long"))
            with pytest.raises(RequestRejected, match="prompt is too long"):
                await kind.call(models, model_files)
            assert models.statuses()[0].state != "unreachable"
            backend, _ = await kind.call(models, model_files)
            assert backend == "remote" and models.statuses()[0].state == "ok"
            scripted.script(Reply.failure(400, error="prompt is too long"))
            with pytest.raises(RequestRejected):
                await kind.call(models, model_files)
            assert models.statuses()[0].state == "ok"
            scripted.script(Reply.failure(401, error="bad key"))
            with pytest.raises(RequestRejected):
                await kind.call(models, model_files)
            assert models.statuses()[0].state == "unreachable", "a wrong key holds for every call"
        finally:
            await models.aclose()
