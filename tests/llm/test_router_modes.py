"""The router through the Companion: auto falls back and comes back, online shows errors,
offline never touches the network, and nothing polls while all is well."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.events import ModelRouted, TextDelta, TurnEvent, TurnFailed, TurnFinished
from tests.llm.conftest import (
    auto_settings,
    open_companion,
    run_turn,
    saved_messages,
)
from tests.support.llama_server import LlamaServer
from tests.support.network_audit import audited_termmate
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.waiting import eventually


def _routed(events: list[TurnEvent]) -> list[ModelRouted]:
    return [e for e in events if isinstance(e, ModelRouted)]


def _finished(events: list[TurnEvent]) -> TurnFinished:
    last = events[-1]
    assert isinstance(last, TurnFinished), last
    return last


async def test_auto_falls_back_when_the_server_is_killed_and_returns_when_it_is_back(
    own_llama_server: LlamaServer, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = own_llama_server
    settings = auto_settings(termmate_env, monkeypatch, server.url)
    async with open_companion(settings) as companion:
        first = _finished(await run_turn(companion, "t-auto", "hello"))
        assert (first.backend, first.model, first.fallback_reason) == (
            "remote",
            "tiny-remote",
            None,
        )
        assert not companion.router.local.loaded

        server.kill()  # before the next turn
        events = await run_turn(companion, "t-auto", "are you there?")
        second = _finished(events)
        assert second.backend == "local" and second.model == "tiny-chat.gguf"
        assert second.fallback_reason and "connection refused" in second.fallback_reason
        assert second.text.strip()
        [routed] = _routed(events)
        assert routed.restarted is False and routed.fallback_reason == second.fallback_reason
        status = companion.status()
        assert status.answering.backend == "local"
        assert status.answering.fallback_reason == second.fallback_reason
        assert status.service("remote model").state == "unreachable"

        server.start()  # the same port
        await eventually(
            lambda: companion.status().answering.backend == "remote",
            timeout_s=15,
            what="the probe to notice the server is back",
        )
        third = _finished(await run_turn(companion, "t-auto", "welcome back"))
        assert (third.backend, third.fallback_reason) == ("remote", None)
        assert companion.status().service("remote model").state == "ok"

    saved = await saved_messages(settings, "t-auto")
    assert [(m["role"], m.get("backend")) for m in saved] == [
        ("user", None),
        ("assistant", "remote"),
        ("user", None),
        ("assistant", "local"),
        ("user", None),
        ("assistant", "remote"),
    ]


async def _turn_killing_on_first_word(
    companion: object, thread_id: str, kill: object
) -> tuple[list[TurnEvent], list[str]]:
    """Run a turn; call ``kill()`` when the first remote word arrives."""
    events: list[TurnEvent] = []
    remote_words: list[str] = []
    backend = None
    async for event in companion.turn(thread_id, "tell me a long story"):  # type: ignore[attr-defined]
        events.append(event)
        if isinstance(event, ModelRouted):
            backend = event.backend
        elif isinstance(event, TextDelta) and backend == "remote":
            if not remote_words:
                kill()  # type: ignore[operator]
            remote_words.append(event.text)
    return events, remote_words


def _assert_restarted_locally(events: list[TurnEvent], remote_words: list[str]) -> TurnFinished:
    finished = _finished(events)
    remote, local = _routed(events)
    assert (remote.backend, remote.restarted) == ("remote", False)
    assert (local.backend, local.restarted) == ("local", True)
    assert local.fallback_reason and local.fallback_reason == finished.fallback_reason
    assert finished.backend == "local"
    # The reply is the local one alone: the remote words before the cut were dropped.
    after = events[events.index(local) + 1 :]
    local_text = "".join(e.text for e in after if isinstance(e, TextDelta))
    assert finished.text == local_text and local_text.strip()
    # (The same weights may well start the same way, so compare with the streamed pieces.)
    assert remote_words
    assert finished.text != "".join(remote_words) + local_text
    return finished


async def test_a_reply_cut_mid_stream_is_answered_again_locally(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.script(Reply.of("Once", " upon", " a", " time", " there", drop_after=3))
    settings = auto_settings(termmate_env, monkeypatch, scripted.url)
    async with open_companion(settings) as companion:
        events, remote_words = await _turn_killing_on_first_word(companion, "t-cut", lambda: None)
        assert remote_words == ["Once", " upon", " a"]
        finished = _assert_restarted_locally(events, remote_words)
        assert "the connection was lost" in finished.fallback_reason
    assert len(scripted.chat_requests) == 1  # the same turn was not sent to the remote again
    saved = await saved_messages(settings, "t-cut")
    assert [m["content"] for m in saved] == ["tell me a long story", finished.text]
    assert saved[-1]["backend"] == "local"


async def test_the_real_server_killed_mid_reply_is_answered_again_locally(
    own_llama_server: LlamaServer, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long reply: the tiny fluent model streams ~1000 tokens/s, never stopping early.
    settings = auto_settings(
        termmate_env, monkeypatch, own_llama_server.url, TERMMATE_AGENT__MAX_REPLY_TOKENS="600"
    )
    async with open_companion(settings) as companion:
        events, remote_words = await _turn_killing_on_first_word(
            companion, "t-kill", own_llama_server.kill
        )
        finished = _assert_restarted_locally(events, remote_words)
        assert "connection was lost" in finished.fallback_reason


async def test_after_the_probe_brings_the_remote_back_nothing_polls(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = auto_settings(termmate_env, monkeypatch, scripted.url)
    async with open_companion(settings) as companion:
        scripted.stop()
        failed_over = _finished(await run_turn(companion, "t-probe", "hello?"))
        assert failed_over.backend == "local"

        scripted.start()  # back, on the same port
        await eventually(lambda: companion.status().answering.backend == "remote", timeout_s=5)
        assert scripted.model_requests, "the probe asked GET /v1/models"
        scripted.clear_requests()
        await asyncio.sleep(1.0)  # five probe intervals
        assert scripted.requests == [], "the probe stopped once the remote was back"

        back = _finished(await run_turn(companion, "t-probe", "and now?"))
        assert (back.backend, back.text) == ("remote", Reply().text)


async def test_nothing_polls_while_the_remote_is_healthy_and_idle(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = auto_settings(termmate_env, monkeypatch, scripted.url)
    async with open_companion(settings) as companion:
        await asyncio.sleep(0.6)
        assert scripted.requests == [], "creating the Companion asks the server nothing"
        finished = _finished(await run_turn(companion, "t-idle", "hi"))
        assert finished.backend == "remote" and finished.text == Reply().text
        seen = len(scripted.requests)
        await asyncio.sleep(1.0)  # five probe intervals, idle
        assert len(scripted.requests) == seen
    assert [r.path for r in scripted.requests] == ["/v1/models", "/v1/chat/completions"]


async def test_online_mode_shows_a_failure_as_an_error_without_fallback(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.set_default(Reply.failure(503, error="the GPU is on fire"))
    settings = auto_settings(termmate_env, monkeypatch, scripted.url, TERMMATE_MODE="online")
    async with open_companion(settings) as companion:
        events = await run_turn(companion, "t-online", "hello")
        failed = events[-1]
        assert isinstance(failed, TurnFailed) and failed.kind == "model"
        assert "HTTP 503" in failed.message and "the GPU is on fire" in failed.message
        assert _routed(events) == [] and not [e for e in events if isinstance(e, TextDelta)]
        assert not companion.router.local.loaded
        status = companion.status()
        assert status.answering.backend == "remote"
        assert status.service("remote model").state == "unreachable"

        scripted.stop()
        events = await run_turn(companion, "t-online", "hello again")
        assert isinstance(events[-1], TurnFailed) and "connection refused" in events[-1].message
        assert not companion.router.local.loaded
    # Online mode never starts the probe: nothing but the two turns' attempts reached the server.
    assert all(r.path == "/v1/chat/completions" for r in scripted.requests[1:])


async def test_online_mode_cut_mid_reply_fails_the_turn(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.script(Reply.of("partial", " words", " then", " nothing", drop_after=2))
    settings = auto_settings(termmate_env, monkeypatch, scripted.url, TERMMATE_MODE="online")
    async with open_companion(settings) as companion:
        events = await run_turn(companion, "t-online-cut", "hello")
        assert isinstance(events[-1], TurnFailed)
        assert "the connection was lost" in events[-1].message
        assert [r.backend for r in _routed(events)] == ["remote"]
        assert not companion.router.local.loaded


def test_offline_mode_opens_no_network_connection_at_all(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], tmp_path: Path
) -> None:
    # A remote *is* configured (and an HF endpoint): offline mode must ignore both.
    env = {
        **termmate_env,
        "TERMMATE_MODE": "offline",
        "TERMMATE_LLM__URL": scripted.url,
        "HF_ENDPOINT": scripted.url.removesuffix("/v1"),
    }
    run = audited_termmate(tmp_path, "ask", "hello", "--json", env=env)
    assert run.returncode == 0 and json.loads(run.stdout)["backend"] == "local"
    assert run.network == []
    assert scripted.requests == []


def test_the_network_audit_sees_connections(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], tmp_path: Path
) -> None:
    """The check above could pass vacuously; here the same audit does see a remote turn."""
    env = {**termmate_env, "TERMMATE_MODE": "online", "TERMMATE_LLM__URL": scripted.url}
    run = audited_termmate(tmp_path, "ask", "hello", "--json", env=env)
    assert json.loads(run.stdout)["backend"] == "remote"
    assert "socket.connect" in run.events


async def test_aclose_during_fallback_stops_the_probe_and_the_model_thread(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    settings = auto_settings(termmate_env, monkeypatch, scripted.url)
    scripted.stop()
    async with open_companion(settings) as companion:
        assert _finished(await run_turn(companion, "t-close", "hello")).backend == "local"
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert "termmate-probe" in names, "in fallback, the probe watches for the remote"
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("termmate-")]
    assert not [t for t in threading.enumerate() if t.name.startswith("termmate-")]
