"""Fixtures for the memory tests: real Qdrant local and SQLite in a temporary data dir."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import agent.memory  # noqa: F401  (switches mem0's telemetry off before anything imports mem0)
from agent.memory.engine import MemoryEngine
from agent.memory.service import MemoryService
from config import Settings
from tests.support.cli import ROOT
from tests.support.word_embedder import WordOverlapEmbedder

USER = "minsu"


def memory_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a store in ``data_dir``: offline, user "minsu", memory on."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "mode": "offline",
        "user_id": USER,
        "memory": {"enabled": True},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, tiny_embed_gguf: Path) -> Settings:
    return memory_settings(tmp_path / "data", local={"embed_model": str(tiny_embed_gguf)})


@pytest.fixture
def embedder() -> WordOverlapEmbedder:
    return WordOverlapEmbedder()


@pytest.fixture
async def engine(settings: Settings, embedder: WordOverlapEmbedder) -> AsyncIterator[MemoryEngine]:
    """An open MemoryEngine whose embeddings come from the word-overlap test double."""
    store = MemoryEngine(settings, embedder)
    await store.open()
    yield store
    await store.aclose()


@pytest.fixture
async def service(
    settings: Settings, embedder: WordOverlapEmbedder
) -> AsyncIterator[MemoryService]:
    """A started MemoryService (owner of its store) with the word-overlap test double."""
    memory = MemoryService(settings, embedder=embedder)
    await memory.start()
    yield memory
    await memory.aclose()


def subprocess_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a termmate subprocess using the same store as ``settings``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TERMMATE_DATA_DIR": str(settings.data_dir),
        "TERMMATE_CONFIG": str(settings.data_dir.parent / "settings.toml"),
        "TERMMATE_MODE": str(settings.mode),
        "TERMMATE_USER_ID": settings.user_id,
        "TERMMATE_LOCAL__EMBED_MODEL": settings.local.embed_model,
    }
    env.update(extra)
    return env
