"""Fixtures for the memory tests: real Qdrant local and SQLite in a temporary data dir, or a
real PostgreSQL with pgvector (a new database per test).

A test (or module) marked ``both_backends`` runs once per backend: "embedded" (the store on
disk, the default) and "postgres" (``[store] url``, a new database). Here ``backend`` is
embedded unless a test asks for both (most memory tests are about the store on disk and the
relay between its processes); elsewhere (tests/conftest.py) every test that takes ``backend``
runs on both. It is the same ``tests.support.stores.Store`` either way, so ``termmate_env``
and ``postgres_only`` work here too. A test's ``settings``, ``engine`` and ``service`` are its
backend's; a test that builds its own settings adds ``**store_settings`` to
``memory_settings``.
"""

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
from tests.support.stores import Store
from tests.support.word_embedder import WordOverlapEmbedder

USER = "minsu"
BACKENDS = ("embedded", "postgres")
both_backends = pytest.mark.both_backends  # registered in pyproject.toml


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("both_backends") is not None
    if marked and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Store:
    """The test's store: the one on disk, unless the test is marked ``both_backends`` (then
    each in turn) or ``postgres_only``."""
    if getattr(request, "param", "embedded") == "postgres":
        return Store("postgres", request.getfixturevalue("pg_url"))
    return Store("embedded")


@pytest.fixture
def store_settings(backend: Store) -> dict[str, Any]:
    """The settings that put a store where ``backend`` is (for ``memory_settings``)."""
    return {"store": {"url": backend.url}} if backend.url else {}


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
def settings(tmp_path: Path, tiny_embed_gguf: Path, store_settings: dict[str, Any]) -> Settings:
    return memory_settings(
        tmp_path / "data", local={"embed_model": str(tiny_embed_gguf)}, **store_settings
    )


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
    url = settings.store.url
    store = {"TERMMATE_STORE__URL": url.get_secret_value()} if url is not None else {}
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TERMMATE_DATA_DIR": str(settings.data_dir),
        "TERMMATE_CONFIG": str(settings.data_dir.parent / "settings.toml"),
        "TERMMATE_MODE": str(settings.mode),
        "TERMMATE_USER_ID": settings.user_id,
        "TERMMATE_LOCAL__EMBED_MODEL": settings.local.embed_model,
        **store,
    }
    env.update(extra)
    return env
