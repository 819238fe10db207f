"""An offline process relayed to an owner in auto mode: the owner embeds its text with the local
model, so nothing reaches [embed] url on its behalf (the scripted embeddings server sees no
request); an owner that has no local model refuses with a clear error."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from agent.memory.service import MemoryService
from config import Settings
from tests.memory.conftest import USER, memory_settings, subprocess_env
from tests.support.cli import Run, run_termmate
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.word_embedder import WordOverlapEmbedder


def _cli(settings: Settings, mode: str, *args: str) -> Run:
    """``termmate --mode MODE memory ARGS`` in its own process (a client of the owner)."""
    env = subprocess_env(
        settings,
        TERMMATE_MODE=mode,
        TERMMATE_EMBED__URL=settings.embed.url or "",
        TERMMATE_EMBED__MAX_RETRIES="0",
    )
    return run_termmate(env, "memory", *args)


def _auto_owner_settings(data_dir: Path, server: ScriptedOpenAI, embed_model: str) -> Settings:
    return memory_settings(
        data_dir,
        mode="auto",
        embed={"url": server.url, "model": "scripted", "max_retries": 0},
        local={"embed_model": embed_model},
        memory={"embed_query_prefix": "", "embed_document_prefix": ""},
    )


async def test_an_offline_client_is_embedded_locally_by_an_auto_owner(
    tmp_path: Path, tiny_embed_gguf: Path
) -> None:
    with ScriptedOpenAI(model="scripted", embedder=WordOverlapEmbedder(64).vector) as server:
        settings = _auto_owner_settings(tmp_path / "data", server, str(tiny_embed_gguf))
        owner = MemoryService(settings)
        await owner.start()
        try:
            assert owner.role == "owner" and owner.status.state == "ok", owner.status
            assert owner.status.detail.startswith("remote scripted")
            asked = len(server.embedding_requests)  # the owner's own probe

            add = await asyncio.to_thread(
                _cli, settings, "offline", "add", "The user likes tea", "-c", "food"
            )
            found = await asyncio.to_thread(
                _cli, settings, "offline", "search", "The user likes tea", "--json"
            )
            tea = json.loads(found.stdout)[0]
            edit = await asyncio.to_thread(
                _cli, settings, "offline", "edit", tea["id"], "The user likes green tea"
            )
            lines = tmp_path / "more.jsonl"
            lines.write_text(json.dumps({"text": "The user has a cat", "category": "pets"}))
            imported = await asyncio.to_thread(_cli, settings, "offline", "import", str(lines))
            reindex = await asyncio.to_thread(_cli, settings, "offline", "reindex")

            for run in (add, found, edit, imported, reindex):
                assert run.returncode == 0, run.stderr
            assert tea["text"] == "The user likes tea"
            assert "local tiny-embed.gguf" in reindex.stdout
            assert len(server.embedding_requests) == asked  # nothing went out for them

            # The same commands in auto mode do reach the remote: the check above can fail.
            auto = await asyncio.to_thread(_cli, settings, "auto", "search", "tea", "--json")
            assert auto.returncode == 0, auto.stderr
            assert len(server.embedding_requests) > asked
            texts = {r.text for r in await owner.list(user_id=USER)}
            assert texts == {"The user likes green tea", "The user has a cat"}
        finally:
            await owner.aclose()


async def test_an_owner_without_a_local_model_refuses_an_offline_client(tmp_path: Path) -> None:
    with ScriptedOpenAI(model="scripted", embedder=WordOverlapEmbedder(64).vector) as server:
        settings = _auto_owner_settings(tmp_path / "data", server, "/nowhere/embed.gguf")
        owner = MemoryService(settings)
        await owner.start()
        try:
            assert owner.status.state == "ok", owner.status
            asked = len(server.embedding_requests)
            search = await asyncio.to_thread(_cli, settings, "offline", "search", "tea")
            add = await asyncio.to_thread(_cli, settings, "offline", "add", "tea", "-c", "food")
            for run in (search, add):
                assert run.returncode == 1
                assert "offline mode" in run.stderr and "no GGUF file" in run.stderr
                assert "Traceback" not in run.stderr
            assert len(server.embedding_requests) == asked
            assert await owner.list(user_id=USER) == []
        finally:
            await owner.aclose()
