"""Fixtures for `termmate serve` tests: real services in subprocesses, real peers.

The model is the scripted OpenAI-compatible server; the voice, the Fish Speech protocol
server. Starting a service costs seconds (LangGraph, the Companion), so two are shared by the
whole session — ``plain`` (text only) and ``voiced`` (with the Fish Speech server) — and the
tests on them keep to their own user ids. Tests that change a service's life (kill its model,
stop it, load it) start their own (``tests.support.served.service_env``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.fish_speech_server import FishSpeechServer
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import Served, served, service_env

PLAIN_MAX_UPLOAD_MB = 1
PLAIN_MAX_MESSAGE_CHARS = 200


@pytest.fixture(scope="session")
def model() -> Iterator[ScriptedOpenAI]:
    """The scripted model of the shared services."""
    with ScriptedOpenAI() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_script(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from the default reply and an empty record of requests."""
    if "model" not in request.fixturenames:
        yield
        return
    scripted: ScriptedOpenAI = request.getfixturevalue("model")
    scripted.set_default(Reply())
    scripted.clear_requests()
    yield
    scripted.set_default(Reply())


@pytest.fixture(scope="session")
def plain(model: ScriptedOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A text-only service: no TTS server, sight off, the scripted model as chat model and VLM,
    small limits (1 MB bodies, 200-character messages)."""
    folder = tmp_path_factory.mktemp("plain")
    env = service_env(
        folder,
        model.url,
        VLM__URL=model.url,
        VLM__MAX_RETRIES="0",
        SERVER__MAX_UPLOAD_MB=str(PLAIN_MAX_UPLOAD_MB),
        AGENT__MAX_MESSAGE_CHARS=str(PLAIN_MAX_MESSAGE_CHARS),
    )
    with served(env, stderr_dir=folder) as service:
        yield service


@pytest.fixture(scope="session")
def fish() -> Iterator[FishSpeechServer]:
    """The Fish Speech protocol server of the voiced service."""
    with FishSpeechServer() as server:
        yield server


@pytest.fixture(scope="session")
def voiced(
    model: ScriptedOpenAI, fish: FishSpeechServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A service with a voice: the Fish Speech server synthesises its replies (played nowhere)."""
    folder = tmp_path_factory.mktemp("voiced")
    env = service_env(folder, model.url, TTS__URL=fish.url, SERVER__MAX_UPLOAD_MB="2")
    with served(env, stderr_dir=folder) as service:
        yield service


@pytest.fixture
def user() -> str:
    """A user id of this test's own."""
    return f"u-{uuid.uuid4().hex[:10]}"
