"""The controlled vocabulary: normalised categories, never duplicated, on real SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.memory.engine import MemoryEngine
from agent.memory.errors import InvalidMemoryInput
from agent.memory.vocabulary import VocabularyManager, normalize_category
from tests.memory.conftest import USER


def test_the_table_exists_as_soon_as_the_manager_opens(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.sqlite"
    VocabularyManager.open_sqlite(path).close()
    conn = sqlite3.connect(path)
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'controlled_vocabulary'"
    ).fetchone()
    assert "category TEXT UNIQUE" in sql


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


def test_the_insert_is_the_portable_on_conflict_do_nothing() -> None:
    from agent.memory.vocabulary import INSERT_TERM

    assert INSERT_TERM.format(p="%s") == (
        "INSERT INTO controlled_vocabulary (category) VALUES (%s) ON CONFLICT (category) DO NOTHING"
    )


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
