"""A password in a server URL (http://alice:hunter2@host/v1) is used, and never shown, logged
or stored: not on stderr, not in termmate.log, not in threads.sqlite, not in the status pane."""

from __future__ import annotations

import base64
from contextlib import aclosing
from pathlib import Path

import pytest

from agent import Companion
from agent.llm.errors import NoModelAvailable, RequestRejected
from agent.llm.local import LocalChat
from agent.llm.openai_http import OpenAIClient
from agent.llm.remote import RemoteChat
from agent.llm.types import ChatRequest
from audio.errors import TTSRejected
from audio.fish_speech import FishSpeechClient
from config import LLMSettings, LocalSettings, TTSSettings, load_settings
from tests.support.cli import Run, run_python, run_termmate
from tests.support.llama_server import free_port
from tests.support.scripted_openai import Reply, ScriptedOpenAI

PASSWORD = "hunter2"
HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=16)


def _with_credentials(url: str, password: str = PASSWORD) -> str:
    return url.replace("http://", f"http://alice:{password}@", 1)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _everything_written(data_dir: Path, run: Run) -> dict[str, bytes]:
    """Every place the password could end up: the output, the log, the thread store."""
    places = {"stdout": run.stdout.encode(), "stderr": run.stderr.encode()}
    places["log"] = (data_dir / "logs" / "termmate.log").read_bytes()
    for path in data_dir.glob("threads.sqlite*"):  # the database, its WAL and shared memory
        places[path.name] = path.read_bytes()
    return places


def _ask_dead_remote(termmate_env: dict[str, str], mode: str) -> tuple[Run, Path, int]:
    port = free_port()
    env = {
        **termmate_env,
        "TERMMATE_MODE": mode,
        "TERMMATE_LLM__URL": f"http://alice:{PASSWORD}@127.0.0.1:{port}/v1",
        "TERMMATE_LLM__MAX_RETRIES": "0",
    }
    return run_termmate(env, "ask", "hello"), Path(termmate_env["TERMMATE_DATA_DIR"]), port


def test_auto_mode_falls_back_without_showing_the_password(
    termmate_env: dict[str, str],
) -> None:
    done, data_dir, port = _ask_dead_remote(termmate_env, "auto")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the tiny local model answered"
    places = _everything_written(data_dir, done)
    # The failure was reported (with the URL), so the password had every chance to appear.
    assert f"http://127.0.0.1:{port}/v1" in done.stderr
    assert f"http://127.0.0.1:{port}/v1".encode() in places["log"]
    assert [name for name, raw in places.items() if PASSWORD.encode() in raw] == []


def test_online_mode_stores_the_failure_without_the_password(
    termmate_env: dict[str, str],
) -> None:
    done, data_dir, port = _ask_dead_remote(termmate_env, "online")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"http://127.0.0.1:{port}/v1" in done.stderr
    places = _everything_written(data_dir, done)
    # LangGraph saved the failing node's error text into the thread store.
    assert any(
        f"127.0.0.1:{port}".encode() in raw for name, raw in places.items() if "sqlite" in name
    )
    assert [name for name, raw in places.items() if PASSWORD.encode() in raw] == []


async def test_credentials_in_the_url_are_sent_as_basic_auth(scripted: ScriptedOpenAI) -> None:
    password = "p@ss:w/rd"  # percent-encoded in the URL, sent as it is
    url = _with_credentials(scripted.url, "p%40ss%3Aw%2Frd")
    llm = LLMSettings(url=url, max_retries=0)
    scripted.script(Reply.of("Hi", " there"), Reply.failure(400, error="bad request"))
    async with aclosing(RemoteChat(llm)) as remote:
        assert remote.url == scripted.url
        assert "".join([piece async for piece in remote.stream(HELLO)]) == "Hi there"
        with pytest.raises(RequestRejected) as caught:
            async for _ in remote.stream(HELLO):
                pass
    assert {r.authorization for r in scripted.chat_requests} == {_basic("alice", password)}
    assert all("@" not in r.path for r in scripted.requests)
    assert scripted.url in caught.value.reason and "p%40ss" not in caught.value.reason


async def test_an_api_key_wins_over_url_credentials(scripted: ScriptedOpenAI) -> None:
    llm = LLMSettings(url=_with_credentials(scripted.url), api_key="sk-1", model="m")
    client = OpenAIClient(llm, section="llm", max_retries=0)
    try:
        await client.list_models()
    finally:
        await client.aclose()
    assert scripted.model_requests[-1].authorization == "Bearer sk-1"


async def test_the_status_never_shows_the_password(termmate_env: dict[str, str]) -> None:
    url = f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}/v1"
    for mode in ("auto", "offline"):
        settings = load_settings(overrides={"mode": mode, "llm": {"url": url}})
        companion = await Companion.create(settings)
        try:
            status = companion.status()
            if mode == "auto":
                assert companion.router.remote.url == url.replace(f"alice:{PASSWORD}@", "")
            else:  # offline never builds the remote client at all
                assert companion.router.remote is None
            assert PASSWORD not in repr(status)
        finally:
            await companion.aclose()


async def test_the_tts_client_sends_basic_auth_and_shows_no_password(
    scripted: ScriptedOpenAI,
) -> None:
    # Any HTTP server that records headers will do: this one answers /v1/health with a 404.
    base = scripted.url.removesuffix("/v1")
    async with aclosing(FishSpeechClient(TTSSettings(url=_with_credentials(base)))) as client:
        assert client.url == base
        with pytest.raises(TTSRejected) as caught:
            await client.health()
    assert scripted.requests[-1].path == "/v1/health"
    assert scripted.requests[-1].authorization == _basic("alice", PASSWORD)
    assert base in caught.value.reason and PASSWORD not in caught.value.reason


def test_voice_commands_show_the_tts_url_without_the_password(
    termmate_env: dict[str, str],
) -> None:
    port = free_port()
    env = {**termmate_env, "TERMMATE_TTS__URL": f"http://alice:{PASSWORD}@127.0.0.1:{port}"}
    done = run_termmate(env, "voice", "list")
    assert f"cannot reach the TTS server at http://127.0.0.1:{port}" in done.stderr
    places = _everything_written(Path(termmate_env["TERMMATE_DATA_DIR"]), done)
    assert [name for name, raw in places.items() if PASSWORD.encode() in raw] == []


def test_a_rejected_url_is_shown_without_its_password(termmate_env: dict[str, str]) -> None:
    env = {**termmate_env, "TERMMATE_LLM__URL": f"http://alice:{PASSWORD}@gpu-box:8000"}
    done = run_termmate(env, "ask", "hello")
    assert done.returncode == 2
    assert "environment variable TERMMATE_LLM__URL = 'http://gpu-box:8000'" in done.stderr
    assert PASSWORD not in done.stderr


LOG_THIRD_PARTY_LINES = """
import logging, os, sys
from pathlib import Path
os.umask(0o022)
from tui._logging import setup_logging
log_file = Path(sys.argv[1])
setup_logging(log_file)
logging.getLogger("httpx").warning("GET %s", "http://alice:hunter2@gpu-box/v1/models?api_key=k3y&n=1")
try:
    raise ConnectionError("cannot open https://bob:s3cret@example.test/x?token=t0ken")
except ConnectionError:
    logging.getLogger("mem0").exception("store failed")
print(oct(log_file.stat().st_mode & 0o777))
"""


def test_the_log_redacts_urls_from_any_library(tmp_path: Path) -> None:
    log_file = tmp_path / "data" / "logs" / "termmate.log"
    done = run_python("-c", LOG_THIRD_PARTY_LINES, str(log_file))
    assert done.returncode == 0, done.stderr
    text = log_file.read_text(encoding="utf-8")
    assert "GET http://gpu-box/v1/models?api_key=***&n=1" in text
    assert "cannot open https://example.test/x?token=***" in text and "Traceback" in text
    assert not [s for s in ("hunter2", "k3y", "bob", "s3cret", "t0ken") if s in text]
    assert done.stdout.strip() == "0o600"  # private even under umask 022


async def test_a_hub_mirror_password_is_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://alice:{PASSWORD}@127.0.0.1:{port}")
    chat = LocalChat(LocalSettings(chat_model="hf:owner/repo/x.gguf"), tmp_path / "models")
    try:
        with pytest.raises(NoModelAvailable) as caught:
            await chat.prepare(allow_download=True)
    finally:
        await chat.aclose()
    assert f"from http://127.0.0.1:{port}/owner/repo/resolve/main/x.gguf" in caught.value.reason
    assert PASSWORD not in caught.value.reason
