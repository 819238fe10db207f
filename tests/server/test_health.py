"""GET /health: 200 while a turn can be answered, 503 once the only model server is gone, 200
again when it is back, from the states the Companion tracks (no model call of its own)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.fish_speech_server import FishSpeechServer
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.served import Served, served, service_env

READY = {"agent": "ready", "vlm": "off", "tts": "ready", "memory": "off"}


def _health(service: Served) -> httpx.Response:
    return httpx.get(f"{service.url}/health", timeout=10)


def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def test_health_follows_the_only_model_server_down_and_back_up(tmp_path: Path) -> None:
    model = ScriptedOpenAI().start()
    try:
        with FishSpeechServer() as fish:
            env = service_env(
                tmp_path, model.url, TTS__URL=fish.url, LLM__RETRY_REMOTE_AFTER_S="0.2"
            )
            with served(env) as service:
                healthy = _health(service)
                assert healthy.status_code == 200, healthy.text
                assert healthy.json() == {"status": "ok", "modules": READY}

                model.stop()
                failed = httpx.post(
                    f"{service.url}/v1/chat", json={"user_id": "ada", "message": "hi"}, timeout=60
                )
                assert failed.status_code == 500, failed.text
                down = _health(service)
                assert down.status_code == 503, down.text
                assert down.json() == {"status": "error", "modules": {**READY, "agent": "error"}}

                model.start()  # back, on the same port
                _until(lambda: _health(service).status_code == 200, 10, "health 200 again")
                assert _health(service).json() == {"status": "ok", "modules": READY}
                answered = httpx.post(
                    f"{service.url}/v1/chat", json={"user_id": "ada", "message": "hi"}, timeout=60
                )
                assert answered.status_code == 200, answered.text
    finally:
        model.stop()


def test_health_calls_no_model(plain: Served, model: ScriptedOpenAI) -> None:
    """Five checks cost at most one cheap probe (GET /v1/models, only of a model known to be
    down, at most every retry_remote_after_s) and never a model call."""
    for _ in range(5):
        assert _health(plain).status_code in (200, 503)
    assert [r.path for r in model.requests] in ([], ["/v1/models"])
