"""Turn order between processes on one store: a second process waits for the turn running on
its thread (a flock, or a PostgreSQL advisory lock), a killed holder frees it, a waiter can be
called off without leaving anything behind, and a database that drops mid-turn fails only
that turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import Companion
from agent.events import TextDelta, TurnFailed, TurnFinished
from config import describe_database, load_settings
from tests.support.cli import ROOT, TERMMATE
from tests.support.processes import read_until
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.stores import Store, postgres_only
from tests.support.waiting import eventually

SLOW = "Slowly " + "and surely " * 15


@pytest.fixture
def online_env(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The scripted model, for this process and the `termmate` processes it starts."""
    online = {
        "TERMMATE_MODE": "online",
        "TERMMATE_LLM__URL": scripted.url,
        "TERMMATE_LLM__MAX_RETRIES": "0",
    }
    for key, value in online.items():
        monkeypatch.setenv(key, value)
    return {**termmate_env, **online}


@contextlib.contextmanager
def _asking(env: dict[str, str], thread_id: str, text: str, folder: Path) -> Iterator:
    """`termmate ask --thread THREAD TEXT` in its own process (killed if still running)."""
    with (folder / f"ask-{thread_id}.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [*TERMMATE, "ask", "--thread", thread_id, text],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()  # type: ignore[union-attr]


async def _finish(companion: Companion, thread: str, text: str | None) -> list:
    return [event async for event in companion.turn(thread, text)]


def _conversation(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


async def test_a_turn_waits_for_the_turn_another_process_is_running_on_its_thread(
    backend: Store, online_env: dict[str, str], scripted: ScriptedOpenAI, tmp_path: Path
) -> None:
    scripted.script(Reply(words=words_of(SLOW), token_delay_s=0.05), Reply.of("Second", " one."))
    companion = await Companion.create(load_settings())
    try:
        with _asking(online_env, "t-both", "from the other process", tmp_path) as other:
            await asyncio.to_thread(read_until, other, b"Slowly", 60)
            # The other process is mid-reply: this turn must wait for it to be saved.
            mine = await asyncio.wait_for(_finish(companion, "t-both", "from this process"), 60)
            assert await asyncio.to_thread(other.wait, 60) == 0
        saved = await companion.threads.messages("t-both")
    finally:
        await companion.aclose()
    assert isinstance(mine[-1], TurnFinished) and mine[-1].text == "Second one."
    assert _conversation(scripted.chat_requests[1].messages) == [
        ("user", "from the other process"),
        ("assistant", SLOW),
        ("user", "from this process"),
    ]
    assert _conversation(saved) == [
        ("user", "from the other process"),
        ("assistant", SLOW),
        ("user", "from this process"),
        ("assistant", "Second one."),
    ]


@postgres_only
async def test_the_lock_of_a_killed_process_is_freed_and_every_completed_turn_kept(
    backend: Store, online_env: dict[str, str], scripted: ScriptedOpenAI, tmp_path: Path
) -> None:
    scripted.script(
        Reply.of("First", " answer."),
        Reply(words=words_of(SLOW), token_delay_s=0.2),
        Reply.of("After", " the", " crash."),
    )
    companion = await Companion.create(load_settings())
    try:
        await _finish(companion, "t-kill", "first question")
        with _asking(online_env, "t-kill", "second question", tmp_path) as other:
            await asyncio.to_thread(read_until, other, b"Slowly", 60)
            waiting = asyncio.create_task(_finish(companion, "t-kill", "third question"))
            # This process really waits on the other one's advisory lock...
            await eventually(lambda: backend.termmate_sessions(waiting_for_a_lock=True), 30)
            other.send_signal(signal.SIGKILL)
            # ...which PostgreSQL frees as soon as the killed process's connection closes.
            after = await asyncio.wait_for(waiting, 30)
    finally:
        await companion.aclose()
    assert isinstance(after[-1], TurnFinished) and after[-1].text == "After the crash."
    assert _conversation(scripted.chat_requests[-1].messages) == [
        ("user", "first question"),
        ("assistant", "First answer."),
        ("user", "second question\n\nthird question"),  # the unanswered one is kept
    ]


@postgres_only
async def test_a_waiter_called_off_leaves_nothing_behind(
    backend: Store, online_env: dict[str, str]
) -> None:
    from agent.postgres import advisory_key

    companion = await Companion.create(load_settings())
    try:
        # Another machine's turn holds the thread (the test's own session, as a server would).
        holder = await asyncio.to_thread(_hold, backend, advisory_key("thread:t-held"))
        try:
            waiting = asyncio.create_task(_finish(companion, "t-held", "hello"))
            await eventually(lambda: backend.termmate_sessions(waiting_for_a_lock=True), 30)
            waiting.cancel()  # the request was stopped while it waited
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            assert not backend.termmate_sessions(waiting_for_a_lock=True)
            assert not companion.busy("t-held")
            held_by_termmate = backend.sql(
                "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid) "
                "WHERE locktype = 'advisory' AND application_name = 'termmate'"
            )
            assert held_by_termmate == [(0,)]
        finally:
            holder.close()  # the other turn ends
        later = await asyncio.wait_for(_finish(companion, "t-held", "hello again"), 30)
    finally:
        await companion.aclose()
    assert isinstance(later[-1], TurnFinished)


def _hold(store: Store, key: int) -> Any:
    """A session of the test's own holding the advisory lock ``key``."""
    import psycopg

    assert store.url is not None
    conn = psycopg.connect(store.url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    return conn


@postgres_only
async def test_a_database_that_drops_mid_turn_fails_that_turn_and_the_next_one_works(
    backend: Store,
    online_env: dict[str, str],
    scripted: ScriptedOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # what termmate.log would get
    assert backend.url is not None and "postgres:@" in backend.url
    # The test server trusts local connections: a password is sent, and must never be shown.
    monkeypatch.setenv("TERMMATE_STORE__URL", backend.url.replace("postgres:@", "postgres:pw1@"))
    scripted.script(Reply(words=words_of(SLOW), token_delay_s=0.05), Reply.of("Back", " again."))
    companion = await Companion.create(load_settings())
    events = []
    try:
        async for event in companion.turn("t-drop", "hello"):
            events.append(event)
            if isinstance(event, TextDelta) and event.text == "Slowly":
                # PostgreSQL restarts (or the network drops): every session of termmate ends,
                # the one holding this turn's lock included.
                assert backend.cut_termmate_off() >= 2
        failed = events[-1]
        second = await _finish(companion, "t-drop", "are you there?")
        saved = await companion.threads.messages("t-drop")
    finally:
        await companion.aclose()
    assert isinstance(failed, TurnFailed) and failed.kind == "unavailable", failed
    assert describe_database(backend.url) in failed.message and "pw1" not in failed.message
    assert caplog.records and "pw1" not in caplog.text
    assert not any(isinstance(e, TurnFinished) for e in events)
    assert isinstance(second[-1], TurnFinished) and second[-1].text == "Back again."
    assert _conversation(saved)[-1] == ("assistant", "Back again.")
