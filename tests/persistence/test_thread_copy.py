"""Conversations copy between stores (what `termmate store migrate` builds on): every
checkpoint, write and metadata row, read back the same, continued there, and a second copy
adds nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent import Companion
from agent.events import TextDelta, TurnFinished
from agent.threads import ThreadStore, copy_thread, open_thread_store, open_threads
from config import Settings, load_settings
from tests.support.postgres import PostgresServer
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.stores import Store


@pytest.fixture
def online(scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch) -> ScriptedOpenAI:
    monkeypatch.setenv("TERMMATE_MODE", "online")
    monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
    monkeypatch.setenv("TERMMATE_USER_ID", "alice")
    return scripted


def _shared(url: str) -> Settings:
    return load_settings(None, {"store": {"url": url}})


async def _fill_embedded_store(scripted: ScriptedOpenAI) -> None:
    """Alice's conversation of two turns, and Bob's whose reply was stopped."""
    scripted.script(
        Reply.of("Paris."),
        Reply.of("About", " two", " million."),
        Reply(words=words_of("Let me think " + "and think " * 30), token_delay_s=0.05),
    )
    companion = await Companion.create(load_settings())
    try:
        for text in ("Capital of France?", "How many people?"):
            [_ async for _ in companion.turn("t-alice", text)]
        async for event in companion.turn("t-bob", "Tell me a story", user_id="bob"):
            if isinstance(event, TextDelta):
                companion.stop("t-bob")
    finally:
        await companion.aclose()


async def _everything(store: ThreadStore) -> tuple[list, dict]:
    records = await store.records()
    return records, {r.thread_id: await store.messages(r.thread_id) for r in records}


def _pg_counts(store: Store) -> tuple[int, ...]:
    [counts] = store.sql(
        "SELECT (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM checkpoint_writes), "
        "(SELECT count(*) FROM termmate_threads)"
    )
    return counts


def _sqlite_counts(db: Path) -> tuple[int, ...]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM writes), "
            "(SELECT count(*) FROM termmate_threads)"
        ).fetchone()


async def test_threads_copied_between_stores_read_the_same_and_a_second_copy_adds_nothing(
    online: ScriptedOpenAI, postgres: PostgresServer, tmp_path: Path
) -> None:
    await _fill_embedded_store(online)
    database = Store("postgres", postgres.new_database())
    assert database.url is not None
    embedded = await open_threads(load_settings())
    shared = await open_threads(_shared(database.url))
    back, _, _ = await open_thread_store(tmp_path / "back.sqlite", user_id="alice")
    try:
        original = await _everything(embedded)
        records, messages = original
        assert [(r.thread_id, r.user_id, r.turns) for r in records] == [
            ("t-alice", "alice", 2),
            ("t-bob", "bob", 1),
        ]
        assert messages["t-bob"][-1]["stopped"] is True

        for record in records:
            assert await copy_thread(embedded, shared, record.thread_id)
        assert await _everything(shared) == original
        copied = _pg_counts(database)
        assert copied == _sqlite_counts(Path(embedded.where))  # every checkpoint and write

        for record in records:  # again: nothing is added twice
            await copy_thread(embedded, shared, record.thread_id)
        assert _pg_counts(database) == copied
        assert await _everything(shared) == original

        for record in records:  # and back, into an empty embedded store
            await copy_thread(shared, back, record.thread_id)
        assert await _everything(back) == original
        assert not await copy_thread(embedded, shared, "t-nobody")
    finally:
        for store in (embedded, shared, back):
            await store.aclose()

    # The copy is a conversation like any other: it goes on where it was.
    online.script(Reply.of("Yes", ", the Seine."))
    companion = await Companion.create(_shared(database.url))
    try:
        events = [e async for e in companion.turn("t-alice", "A river?")]
    finally:
        await companion.aclose()
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "Yes, the Seine."
    prompt = [(m["role"], m["content"]) for m in online.chat_requests[-1].messages[1:]]
    assert prompt == [
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "How many people?"),
        ("assistant", "About two million."),
        ("user", "A river?"),
    ]
