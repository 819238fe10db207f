"""The controlled vocabulary of memory categories, so the same idea is always filed one way.

The SQL is portable: it runs on SQLite (``data_dir/memory/vocabulary.sqlite``) and, with a
DB-API connection and ``placeholder="%s"``, on PostgreSQL.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import InvalidMemoryInput
from .schemas import MAX_CATEGORY_CHARS

_SPACES = re.compile(r"\s+")

CREATE_TABLE = "CREATE TABLE IF NOT EXISTS controlled_vocabulary (category TEXT UNIQUE)"
SELECT_TERMS = "SELECT category FROM controlled_vocabulary ORDER BY category"
INSERT_TERM = (
    "INSERT INTO controlled_vocabulary (category) VALUES ({p}) ON CONFLICT (category) DO NOTHING"
)


def normalize_category(term: str) -> str:
    """Unicode NFC, trimmed, lowercase, inner whitespace collapsed to one space.

    Raises InvalidMemoryInput for a term that is empty or too long once normalised.
    """
    normalized = _SPACES.sub(" ", unicodedata.normalize("NFC", term).strip().lower())
    # Lowercasing can decompose (e.g. "İ"); compose again so equal words compare equal.
    normalized = unicodedata.normalize("NFC", normalized)
    if not normalized:
        raise InvalidMemoryInput("a category must not be empty")
    if len(normalized) > MAX_CATEGORY_CHARS:
        raise InvalidMemoryInput(
            f"the category {normalized[:20]!r}… is longer than {MAX_CATEGORY_CHARS} characters"
        )
    return normalized


class VocabularyManager:
    """The table ``controlled_vocabulary(category TEXT UNIQUE)``, ensured when opened."""

    def __init__(self, connection: Any, *, placeholder: str = "?") -> None:
        self._conn = connection
        self._insert = INSERT_TERM.format(p=placeholder)
        self._lock = threading.Lock()
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute(CREATE_TABLE)
            self._conn.commit()

    @classmethod
    def open_sqlite(cls, path: Path) -> VocabularyManager:
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return cls(conn)

    def get_all_terms(self) -> list[str]:
        """Every category, sorted."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute(SELECT_TERMS)
            return [row[0] for row in cursor.fetchall()]

    def ensure_categories(self, terms: Iterable[str]) -> list[str]:
        """Normalise ``terms``, add the ones not known yet, and return them normalised."""
        normalized = [normalize_category(term) for term in terms]
        with self._lock:
            cursor = self._conn.cursor()
            try:
                # In one order for every writer: two transactions inserting the same terms in
                # different orders would each wait for the other's row (PostgreSQL: deadlock).
                for term in sorted(set(normalized)):
                    cursor.execute(self._insert, (term,))
                self._conn.commit()
            except Exception:
                self._conn.rollback()
                raise
        return normalized

    def ensure_category(self, term: str) -> str:
        return self.ensure_categories([term])[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
