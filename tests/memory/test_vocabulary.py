"""The controlled vocabulary: normalised categories, each kept once, listed in order, kept
across reopening; on real SQLite and, with the same SQL, on a real PostgreSQL."""

from __future__ import annotations

import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from agent.memory.engine import MemoryEngine
from agent.memory.errors import InvalidMemoryInput
from agent.memory.vocabulary import VocabularyManager, normalize_category
from tests.memory.conftest import USER, both_backends

SPELLINGS = ["Work", " work ", "WORK", "Café", "Cafe\u0301", "food", "FOOD  ", "취미"]
TERMS = ["café", "food", "work", "취미"]  # each spelling above, normalised, sorted


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Food  Preferences ", "food preferences"),
        ("WORK\tand\n life", "work and life"),
        ("Cafe\u0301", "café"),  # decomposed é → NFC
        ("취미", "취미"),
        ("\u1100\u1161", "가"),  # conjoining jamo → one precomposed syllable (NFC)
    ],
)
def test_terms_are_trimmed_lowercased_collapsed_and_nfc(raw: str, normal: str) -> None:
    assert normalize_category(raw) == normal


@pytest.mark.parametrize("bad", ["", "   ", "x" * 49])
def test_empty_or_overlong_terms_are_refused(bad: str) -> None:
    with pytest.raises(InvalidMemoryInput):
        normalize_category(bad)


def test_a_new_vocabulary_is_empty_and_takes_terms_at_once(tmp_path: Path) -> None:
    vocabulary = VocabularyManager.open_sqlite(tmp_path / "v.sqlite")
    assert vocabulary.get_all_terms() == []
    assert vocabulary.ensure_category(" Music ") == "music"
    assert vocabulary.get_all_terms() == ["music"]
    vocabulary.close()


def test_ensure_categories_adds_each_term_once_and_lists_them_sorted(tmp_path: Path) -> None:
    vocabulary = VocabularyManager.open_sqlite(tmp_path / "v.sqlite")
    assert vocabulary.ensure_categories(["Work", " work ", "Café", "Cafe\u0301"]) == [
        "work",
        "work",
        "café",
        "café",
    ]
    vocabulary.ensure_categories(["food", "WORK"])
    assert vocabulary.get_all_terms() == ["café", "food", "work"]
    vocabulary.close()

    reopened = VocabularyManager.open_sqlite(tmp_path / "v.sqlite")
    assert reopened.get_all_terms() == ["café", "food", "work"]
    rows = sqlite3.connect(tmp_path / "v.sqlite").execute(
        "SELECT COUNT(*) FROM controlled_vocabulary"
    )
    assert rows.fetchone()[0] == 3


def _ensure_in_turns(managers: list[VocabularyManager], rounds: int) -> None:
    """Every manager ensures every spelling, from several threads at once, in random orders."""

    def ensure(manager: VocabularyManager, seed: int) -> list[str]:
        spellings = random.Random(seed).sample(SPELLINGS, len(SPELLINGS))
        return manager.ensure_categories(spellings)

    jobs = [(managers[i % len(managers)], i) for i in range(rounds)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for normalised in pool.map(lambda job: ensure(*job), jobs):
            assert sorted(set(normalised)) == TERMS


def test_concurrent_ensures_on_two_connections_keep_each_term_once(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    managers = [VocabularyManager.open_sqlite(path), VocabularyManager.open_sqlite(path)]
    _ensure_in_turns(managers, rounds=64)
    assert [manager.get_all_terms() for manager in managers] == [TERMS, TERMS]
    for manager in managers:
        manager.close()

    reopened = VocabularyManager.open_sqlite(path)
    assert reopened.get_all_terms() == TERMS
    reopened.close()


def test_the_same_vocabulary_runs_on_postgresql(pg_url: str) -> None:
    connections = [psycopg.connect(pg_url), psycopg.connect(pg_url)]
    managers = [VocabularyManager(conn, placeholder="%s") for conn in connections]
    try:
        assert managers[0].get_all_terms() == []
        _ensure_in_turns(managers, rounds=32)
        assert [manager.get_all_terms() for manager in managers] == [TERMS, TERMS]
    finally:
        for manager in managers:
            manager.close()
    with psycopg.connect(pg_url) as conn:
        again = VocabularyManager(conn, placeholder="%s")
        assert again.get_all_terms() == TERMS


def test_a_vocabulary_whose_connection_was_dropped_reconnects(pg_url: str) -> None:
    vocabulary = VocabularyManager.open_postgres(lambda: psycopg.connect(pg_url))
    try:
        vocabulary.ensure_category("Music")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert vocabulary.ensure_categories(["Food"]) == ["food"]
        assert vocabulary.get_all_terms() == ["food", "music"]
    finally:
        vocabulary.close()


@both_backends
async def test_adds_and_searches_go_through_the_vocabulary(engine: MemoryEngine) -> None:
    first = await engine.add(text="The user likes jazz", user_id=USER, category=" Music ")
    second = await engine.add(text="The user plays piano", user_id=USER, category="MUSIC")
    assert first.record.category == second.record.category == "music"
    assert await engine.categories() == ["music"]

    hits = await engine.search(query="jazz piano", user_id=USER, category="  Music", min_score=0)
    assert {hit.id for hit in hits.hits} == {first.record.id, second.record.id}
    none = await engine.search(query="jazz piano", user_id=USER, category="food", min_score=0)
    assert none.hits == []
    assert await engine.categories() == ["music"]  # searching does not invent categories
