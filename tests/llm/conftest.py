"""Fixtures for the model backends: a real llama.cpp server, Companion settings (the scripted
server, ``scripted``, comes from tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.events import TurnEvent, TurnFailed, TurnFinished
from config import Settings, load_settings
from tests.support.llama_server import LlamaServer

# The token ids of the tiny model's </s> and its 256 byte tokens (see tests/support/tiny_gguf.py).
EOS_ID = 2
BYTE_IDS = range(3, 3 + 256)


@pytest.fixture(scope="session")
def fluent_gguf(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, made never to pick </s> or a byte token, so it always writes max_tokens.

    Random byte tokens make invalid UTF-8 that llama-cpp-python holds back until the end of a
    reply, so its server would send every token in one burst; without them it streams token by
    token, which is what the mid-reply tests need. Zero rows of output.weight give those tokens a
    logit of 0, far below the others (about ±20).
    """
    import gguf

    path = tmp_path_factory.mktemp("models") / "tiny-fluent.gguf"
    shutil.copyfile(tiny_gguf, path)
    reader = gguf.GGUFReader(path, "r+")
    output = next(t for t in reader.tensors if t.name == "output.weight")
    output.data[EOS_ID] = 0.0
    output.data[BYTE_IDS.start : BYTE_IDS.stop] = 0.0
    output.data.flush()
    del reader
    return path


@pytest.fixture(scope="session")
def llama_server(
    fluent_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    """One real llama_cpp.server for the tests that leave it running (alias: tiny-remote)."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with LlamaServer(fluent_gguf, log, alias="tiny-remote") as server:
        yield server


@pytest.fixture
def own_llama_server(fluent_gguf: Path, tmp_path: Path) -> Iterator[LlamaServer]:
    """A real llama_cpp.server this test may kill and restart."""
    server = LlamaServer(fluent_gguf, tmp_path / "llama-server.log", alias="tiny-remote")
    try:
        yield server.start()
    finally:
        server.kill()


def auto_settings(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, url: str, **extra: str
) -> Settings:
    """Settings as `termmate` would load them: auto mode, ``url`` as the remote, quick probes.

    ``extra`` sets more variables, e.g. ``TERMMATE_MODE="online"``.
    """
    variables = {
        "TERMMATE_MODE": "auto",
        "TERMMATE_LLM__URL": url,
        "TERMMATE_LLM__PROBE_INTERVAL_S": "0.2",
        "TERMMATE_LLM__TIMEOUT_S": "10",
        "TERMMATE_LLM__CONNECT_TIMEOUT_S": "2",
        "TERMMATE_LLM__MAX_RETRIES": "1",
        **extra,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
        env[name] = value
    return load_settings()


@asynccontextmanager
async def open_companion(settings: Settings) -> AsyncIterator[object]:
    """``Companion.create(settings)``, closed afterwards whatever happens."""
    from agent import Companion

    companion = await Companion.create(settings)
    try:
        yield companion
    finally:
        await companion.aclose()


async def saved_messages(settings: Settings, thread_id: str) -> list[dict]:
    """The thread's messages as another process (``termmate show``) would read them."""
    from agent.threads import open_thread_store

    store, _, conn = await open_thread_store(settings.threads_db, user_id=settings.user_id)
    try:
        return [dict(m) for m in await store.messages(thread_id)]
    finally:
        await conn.close()


async def run_turn(companion: object, thread_id: str, text: str) -> list[TurnEvent]:
    """All events of one turn (the last is TurnFinished or TurnFailed)."""
    events: list[TurnEvent] = []
    async for event in companion.turn(thread_id, text):  # type: ignore[attr-defined]
        events.append(event)
    assert isinstance(events[-1], TurnFinished | TurnFailed)
    return events
