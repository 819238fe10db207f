"""Forgotten means forgotten: once a memory is deleted, its text is in no file of the store.

The store's files are read as raw bytes, free space included, so a row SQLite only marked
free (Qdrant local's points) or a change history (mem0's) would show. In PostgreSQL every
table of the database is read instead (a history table of mem0's, or a row left in a tier,
would show; pages VACUUM has not reclaimed yet are the database's own business).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from agent.memory.engine import MemoryEngine
from agent.memory.timestamps import format_utc, now_utc
from tests.memory.conftest import USER, both_backends

KEPT = "The user likes green tea"
SECRET = "The user's PIN is 7301-zebra-quartz"
EDITED = "The user's PIN is 9924-heron-basalt"
STALE = "The user's old locker code is 5518-otter-marble"


def _files_holding(root: Path, text: str) -> list[Path]:
    needle = text.encode("utf-8")
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def _tables_holding(url: str, text: str) -> list[str]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        query = "SELECT count(*) FROM {} AS t WHERE strpos(t::text, %s) > 0"
        return [
            name
            for (name,) in tables
            if conn.execute(sql.SQL(query).format(sql.Identifier(name)), (text,)).fetchone()[0]
        ]


def _places_holding(settings, text: str) -> list:
    """The files of the store on disk, or the tables of its database, that hold ``text``."""
    if settings.store.url is not None:
        return _tables_holding(settings.store.url.get_secret_value(), text)
    return _files_holding(settings.data_dir / "memory", text)


@both_backends
async def test_a_deleted_memory_leaves_no_text_in_any_file(settings, embedder) -> None:
    engine = MemoryEngine(settings, embedder)
    await engine.open()
    await engine.add(text=KEPT, user_id=USER)
    secret = await engine.add(text=SECRET, user_id=USER)
    await engine.update(memory_id=secret.record.id, user_id=USER, text=EDITED)
    long_ago = format_utc(now_utc() - timedelta(days=90))
    stale = await engine.add(text=STALE, user_id=USER, updated_at=long_ago)
    assert (await engine.cleanup(user_id=USER, days=30)).moved == 1  # fresh -> old
    await engine.delete(memory_id=secret.record.id, user_id=USER)
    await engine.delete(memory_id=stale.record.id, user_id=USER)
    await engine.aclose()

    assert _places_holding(settings, KEPT), "the scan should see a memory the store keeps"
    for forgotten in (SECRET, EDITED, STALE):
        assert _places_holding(settings, forgotten) == [], forgotten
    assert not any(path.exists() for path in engine.paths.legacy_history_files)


async def test_the_history_earlier_versions_kept_is_removed_on_opening(
    settings, embedder, caplog: pytest.LogCaptureFixture
) -> None:
    root = settings.data_dir / "memory"
    root.mkdir(parents=True)
    history = root / "history.sqlite"
    with sqlite3.connect(history) as db:
        db.execute("CREATE TABLE history (memory_id TEXT, old_memory TEXT, new_memory TEXT)")
        db.execute("INSERT INTO history VALUES ('m1', ?, NULL)", (SECRET,))
    db.close()
    for side in ("-wal", "-journal"):
        Path(f"{history}{side}").write_text(SECRET)

    engine = MemoryEngine(settings, embedder)
    with caplog.at_level(logging.INFO, logger="agent.memory.store"):
        await engine.open()
    await engine.aclose()

    assert _files_holding(root, SECRET) == []
    assert not any(path.exists() for path in engine.paths.legacy_history_files)
    assert f"removed {history}" in caplog.text
