"""The controlled vocabulary of memory categories, so the same idea is always filed one way.

The SQL is portable: it runs on SQLite (``data_dir/memory/vocabulary.sqlite``) and, with a
DB-API connection and ``placeholder="%s"``, on PostgreSQL (a shared store, ``open_postgres``).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .errors import InvalidMemoryInput
from .schemas import MAX_CATEGORY_CHARS

_SPACES = re.compile(r"\s+")
T = TypeVar("T")

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

    def __init__(
        self,
        connection: Any,
        *,
        placeholder: str = "?",
        reconnect: Callable[[], Any] | None = None,
    ) -> None:
        self._conn = connection
        self._insert = INSERT_TERM.format(p=placeholder)
        self._reconnect = reconnect
        self._lock = threading.Lock()

        def create(conn: Any) -> None:
            conn.cursor().execute(CREATE_TABLE)
            conn.commit()

        self._run(create)

    @classmethod
    def open_sqlite(cls, path: Path) -> VocabularyManager:
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return cls(conn)

    @classmethod
    def open_postgres(cls, connect: Callable[[], Any]) -> VocabularyManager:
        """The vocabulary in PostgreSQL: ``connect()`` gives a new psycopg connection (not in
        autocommit); one the server dropped is replaced at the next call."""
        return cls(connect(), placeholder="%s", reconnect=connect)

    def _run(self, work: Callable[[Any], T]) -> T:
        """``work(connection)``, once more on a new connection when the old one was dropped."""
        with self._lock:
            try:
                return work(self._conn)
            except Exception:
                if self._reconnect is None or not getattr(self._conn, "closed", False):
                    raise
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = self._reconnect()
            return work(self._conn)

    def get_all_terms(self) -> list[str]:
        """Every category, sorted."""

        def select(conn: Any) -> list[str]:
            cursor = conn.cursor()
            cursor.execute(SELECT_TERMS)
            terms = [row[0] for row in cursor.fetchall()]
            conn.commit()  # PostgreSQL: end the transaction the SELECT began
            return terms

        return self._run(select)

    def ensure_categories(self, terms: Iterable[str]) -> list[str]:
        """Normalise ``terms``, add the ones not known yet, and return them normalised."""
        normalized = [normalize_category(term) for term in terms]

        def insert(conn: Any) -> None:
            cursor = conn.cursor()
            try:
                # In one order for every writer: two transactions inserting the same terms in
                # different orders would each wait for the other's row (PostgreSQL: deadlock).
                for term in sorted(set(normalized)):
                    cursor.execute(self._insert, (term,))
                conn.commit()
            except Exception:
                with contextlib.suppress(Exception):  # nothing to roll back on a lost connection
                    conn.rollback()
                raise

        self._run(insert)
        return normalized

    def ensure_category(self, term: str) -> str:
        return self.ensure_categories([term])[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
