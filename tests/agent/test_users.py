"""Conversations belong to users: listed per user, another user's thread is one that does not
exist, old databases are migrated in place, deleting forgets checkpoints and metadata; each
user's turn searches and speaks with that user's memories and voice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent import Companion
from agent.events import SentenceAudio, SpeechDone, TurnFinished
from agent.threads import ThreadNotFound, new_thread_id
from config import load_settings
from tests.support.cli import run_termmate
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.stores import Store

OLD_SCHEMA = """
CREATE TABLE termmate_threads (
    thread_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0
)
"""


@pytest.fixture
def online(scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch) -> ScriptedOpenAI:
    monkeypatch.setenv("TERMMATE_MODE", "online")
    monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
    monkeypatch.setenv("TERMMATE_USER_ID", "alice")
    return scripted


async def _turn(companion: Companion, thread: str, text: str, **options) -> list:
    return [event async for event in companion.turn(thread, text, **options)]


async def test_threads_are_listed_per_user_and_another_users_thread_does_not_exist(
    backend: Store, online: ScriptedOpenAI
) -> None:
    companion = await Companion.create(load_settings())
    try:
        alices, bobs = new_thread_id(), new_thread_id()
        await _turn(companion, alices, "I am Alice")
        await _turn(companion, bobs, "I am Bob", user_id="bob")

        assert [t.thread_id for t in await companion.threads.list("alice")] == [alices]
        assert [t.thread_id for t in await companion.threads.list("bob")] == [bobs]
        assert await companion.threads.get(bobs, user_id="alice") is None
        assert (await companion.threads.get(bobs, user_id="bob")).title == "I am Bob"

        asked = len(online.chat_requests)
        with pytest.raises(ThreadNotFound):
            await _turn(companion, bobs, "let me in", user_id="alice")
        assert len(online.chat_requests) == asked  # refused before anything ran
        first = (await companion.threads.messages(bobs))[0]
        assert (first["role"], first["content"]) == ("user", "I am Bob")

        await companion.threads.delete(bobs)
        assert await companion.threads.messages(bobs) == []
        assert await companion.threads.list("bob") == []
    finally:
        await companion.aclose()


def test_a_database_from_before_owners_is_migrated_to_the_configured_user(
    online: ScriptedOpenAI, termmate_env: dict[str, str]
) -> None:
    db = Path(termmate_env["TERMMATE_DATA_DIR"]) / "threads.sqlite"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO termmate_threads VALUES ('t-old', 'an old chat', "
            "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 3)"
        )
    env = {**termmate_env, "TERMMATE_USER_ID": "alice"}
    listed = run_termmate(env, "threads", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(t["id"], t["title"], t["turns"]) for t in listed.json()] == [
        ("t-old", "an old chat", 3)
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT user_id FROM termmate_threads").fetchall() == [("alice",)]

    other = run_termmate({**termmate_env, "TERMMATE_USER_ID": "bob"}, "threads", "--json")
    assert other.json() == []
    shown = run_termmate({**termmate_env, "TERMMATE_USER_ID": "bob"}, "show", "t-old")
    assert shown.returncode == 2 and "no conversation 't-old'" in shown.stderr


async def test_each_user_speaks_in_their_own_voice_and_audio_comes_sentence_by_sentence(
    online: ScriptedOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies are synthesised without being played (a server with no sound card), one
    SentenceAudio per sentence in order; Bob's voice is Bob's, Alice keeps tts.reference_id."""
    online.set_default(Reply.of(*words_of("First sentence here. And a second one.")))
    with FishSpeechServer() as fish:
        fish.references = {"house-voice": (b"", ""), "bobs-voice": (b"", "")}
        monkeypatch.setenv("TERMMATE_TTS__URL", fish.url)
        monkeypatch.setenv("TERMMATE_TTS__REFERENCE_ID", "house-voice")
        monkeypatch.setenv("TERMMATE_AUDIO__ENABLED", "false")  # nothing is played
        companion = await Companion.create(load_settings())
        try:
            companion.user_voices.set("bob", "bobs-voice")
            options = {"speak": True, "keep_audio": True, "until_spoken": True}
            bobs = await _turn(companion, new_thread_id(), "hi", user_id="bob", **options)
            alices = await _turn(companion, new_thread_id(), "hi", **options)
        finally:
            await companion.aclose()
        voices = [call.voice for call in fish.calls]

    audio = [event for event in bobs if isinstance(event, SentenceAudio)]
    assert [(a.index, a.text) for a in audio] == [
        (0, "First sentence here."),
        (1, "And a second one."),
    ]
    assert all(a.wav.startswith(b"RIFF") for a in audio)
    done = bobs[-1]
    assert isinstance(done, SpeechDone) and done.result.audio_wav.startswith(b"RIFF")
    assert next(e for e in bobs if isinstance(e, TurnFinished)).text == (
        "First sentence here. And a second one."
    )
    assert isinstance(alices[-1], SpeechDone)
    assert voices == ["reference:bobs-voice"] * 2 + ["reference:house-voice"] * 2
