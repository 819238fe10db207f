"""Fixtures every test area shares: a tiny GGUF, an isolated data dir and environment, a scripted
remote model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiny_gguf as tiny_gguf_module
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.speech import SpeechSamples
from tests.support.stores import Store
from tests.support.tiny_gguf import TinyModelSpec, write_tiny_gguf
from tests.support.tiny_vlm import VLM_CHAT_TEMPLATE, write_tiny_mmproj
from tests.support.tiny_whisper import write_tiny_whisper

# Tests never read the developer's own settings or reach a real server through a proxy.
os.environ.pop("TERMMATE_CONFIG", None)
for _name in list(os.environ):
    if _name.startswith("TERMMATE_") and _name != "TERMMATE_REQUIRE_SYSTEM":
        del os.environ[_name]
os.environ["MEM0_TELEMETRY"] = "false"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama-architecture chat model with random weights (real llama.cpp loads it)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny-chat.gguf")


@pytest.fixture(scope="session")
def tiny_embed_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with mean pooling, for embeddings."""
    spec = TinyModelSpec(pooling=1, seed=99)
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny-embed.gguf", spec)


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny text model and its tiny vision projector, both random: (model, mmproj)."""
    folder = tmp_path_factory.mktemp("vlm")
    # The tiny model, with a chat template that reads content parts as vision prompts send them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiny_gguf_module, "CHAT_TEMPLATE", VLM_CHAT_TEMPLATE)
        model = write_tiny_gguf(folder / "tiny-vlm.gguf")
    mmproj = write_tiny_mmproj(folder / "mmproj-tiny-vlm.gguf", TinyModelSpec().n_embd)
    return model, mmproj


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny multilingual Whisper (CTranslate2 folder) with random weights: the real
    faster-whisper loads and runs it, writing a few nonsense words."""
    return write_tiny_whisper(tmp_path_factory.mktemp("models") / "tiny-whisper")


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechSamples:
    """Real spoken sentences (espeak-ng WAVs), English and Korean."""
    return SpeechSamples.make(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL 16 with pgvector (pgserver's binaries, on a Unix socket), for the
    whole session: each test takes a new database of its own (``pg_url``)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URI of a new, empty database on the session's PostgreSQL."""
    return postgres.new_database()


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest) -> Store:
    """The stores a test runs on, one run each: the embedded files, then a new database on
    the session's PostgreSQL. A test that takes it gets ``termmate_env`` (and everything
    built on it) pointed at that store."""
    if request.param == "postgres":
        return Store("postgres", request.getfixturevalue("pg_url"))
    return Store("embedded")


@pytest.fixture
def termmate_env(
    request: pytest.FixtureRequest, tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """An isolated termmate: its own data dir and settings file, the tiny model, offline; the
    test's ``backend`` store when it takes one (else the embedded stores).

    Yields the environment (also applied to this process) for subprocesses to reuse.
    """
    env = {
        "TERMMATE_DATA_DIR": str(tmp_path / "data"),
        "TERMMATE_CONFIG": str(tmp_path / "settings.toml"),
        "TERMMATE_LOCAL__CHAT_MODEL": str(tiny_gguf),
        "TERMMATE_MODE": "offline",
        "TERMMATE_AGENT__MAX_REPLY_TOKENS": "24",
        "TERMMATE_MEMORY__ENABLED": "false",
    }
    if "backend" in request.fixturenames:
        env.update(request.getfixturevalue("backend").env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield {**os.environ, **env}


@pytest.fixture
def scripted() -> Iterator[ScriptedOpenAI]:
    """A scripted OpenAI-compatible server (exact words, failures on demand)."""
    with ScriptedOpenAI() as server:
        yield server
