"""Embedding sources: the tiny GGUF through llama.cpp, a remote /v1/embeddings, and the mode
rule that picks between them; with none available, memory is off and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm.embeddings import Embeddings
from agent.llm.errors import NoModelAvailable
from agent.memory.service import MemoryService
from config import Mode
from tests.memory.conftest import USER, memory_settings
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.waiting import eventually
from tests.support.word_embedder import WordOverlapEmbedder


def _embedding_server() -> ScriptedOpenAI:
    """A remote serving the model "scripted", with 64-d vectors from the word-overlap double."""
    return ScriptedOpenAI(model="scripted", embedder=WordOverlapEmbedder(64).vector)


async def test_the_tiny_gguf_gives_pooled_embeddings_through_llama_cpp(
    tmp_path: Path, tiny_embed_gguf: Path
) -> None:
    settings = memory_settings(tmp_path, local={"embed_model": str(tiny_embed_gguf)})
    router = Embeddings.from_settings(settings)
    try:
        vectors = await router.embed(["hello world", "안녕 하세요", "hello world"], "document")
        query = await router.embed(["hello world"], "query")
    finally:
        await router.aclose()
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5)
    assert vectors[0] != pytest.approx(vectors[1], abs=1e-3)
    assert query[0] != pytest.approx(vectors[0], abs=1e-3)  # "query: " vs "passage: "


async def test_memory_runs_end_to_end_on_the_tiny_gguf(tmp_path: Path, tiny_embed_gguf) -> None:
    settings = memory_settings(
        tmp_path,
        local={"embed_model": str(tiny_embed_gguf)},
        memory={"embed_query_prefix": "", "embed_document_prefix": ""},
    )
    memory = MemoryService(settings)
    await memory.start()
    try:
        assert memory.service_status().state == "ok"
        assert "tiny-embed.gguf, 64-d" in memory.status.detail
        added = await memory.add("The user likes coffee", user_id=USER)
        hits = await memory.search("The user likes coffee", user_id=USER)
        assert hits.hits[0].id == added.record.id
        assert hits.hits[0].score == pytest.approx(1.0, abs=1e-4)
    finally:
        await memory.aclose()


async def test_a_chat_model_is_refused_as_an_embedding_model(tmp_path, tiny_gguf) -> None:
    settings = memory_settings(tmp_path, local={"embed_model": str(tiny_gguf)})
    router = Embeddings.from_settings(settings)
    try:
        with pytest.raises(NoModelAvailable, match="not an embedding model"):
            await router.embed(["hello"], "document")
    finally:
        await router.aclose()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"mode": "offline"}, "offline mode downloads nothing"),
        ({"mode": "online"}, "TERMMATE_EMBED__URL"),
        ({"mode": "offline", "local": {"embed_model": "/nowhere/model.gguf"}}, "no GGUF file"),
    ],
)
async def test_without_an_embedding_source_memory_is_off_and_says_why(
    tmp_path: Path, overrides: dict, reason: str
) -> None:
    memory = MemoryService(memory_settings(tmp_path / "data", **overrides))
    await memory.start()
    try:
        status = memory.service_status()
        assert status.state == "off" and reason in (status.detail or "")
        assert await memory.list(user_id=USER) == []  # the store itself still opens
        with pytest.raises(Exception, match="memory is off"):
            await memory.add("The user likes tea", user_id=USER)
    finally:
        await memory.aclose()


async def test_auto_uses_the_remote_and_falls_back_to_the_local_model(
    tmp_path: Path, tiny_embed_gguf: Path
) -> None:
    with _embedding_server() as server:
        settings = memory_settings(
            tmp_path,
            mode="auto",
            embed={"url": server.url, "max_retries": 0, "retry_remote_after_s": 0.01},
            local={"embed_model": str(tiny_embed_gguf)},
        )
        router = Embeddings.from_settings(settings)
        try:
            (remote,) = await router.embed(["coffee"], "query")
            assert router.label == "remote scripted"
            last = server.requests[-1]
            assert (last.path, last.body) == (
                "/v1/embeddings",
                {"model": "scripted", "input": ["query: coffee"], "encoding_format": "float"},
            )
            server.set_failure(503)
            (local,) = await router.embed(["coffee"], "query")
            assert local != remote and len(local) == 64
            assert "fallback" in router.label and "HTTP 503" in router.label
            server.set_failure(None)
            # A probe every embed.retry_remote_after_s finds the remote back.
            await eventually(lambda: router.models.answering() == "remote", timeout_s=5)
            assert await router.embed(["coffee"], "query") == [remote]  # back to the remote
            assert router.models.fallback_reason is None

            await router.set_mode(Mode.OFFLINE)
            asked = len(server.requests)
            await router.embed(["coffee"], "query")
            assert len(server.requests) == asked  # offline never touches the remote
        finally:
            await router.aclose()


async def test_online_mode_reports_remote_errors_instead_of_falling_back(
    tmp_path: Path, tiny_embed_gguf: Path
) -> None:
    from agent.llm.errors import ModelError

    with _embedding_server() as server:
        server.set_failure(503)
        settings = memory_settings(
            tmp_path,
            mode="online",
            embed={"url": server.url, "max_retries": 0},
            local={"embed_model": str(tiny_embed_gguf)},
        )
        router = Embeddings.from_settings(settings)
        try:
            with pytest.raises(ModelError, match="503"):
                await router.embed(["coffee"], "query")
        finally:
            await router.aclose()
