"""Which stores a test runs on: the embedded files (the default) or a real PostgreSQL.

The ``backend`` fixture (tests/conftest.py) gives a test both, one run each; ``termmate_env``
and everything built on it then point termmate at that store. The helpers here reach into a
store the way only a test should: damaging a saved conversation, or looking at (and cutting)
termmate's database sessions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest

postgres_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
"""For a test of PostgreSQL-only behaviour: its ``backend`` (and ``termmate_env``) is always
the shared store."""

APPLICATION = "termmate"
"""The application_name of every connection termmate opens to PostgreSQL."""


@dataclass(frozen=True)
class Store:
    """One of termmate's store backends, as a test sees it."""

    kind: str
    """"embedded" or "postgres"."""
    url: str | None = None
    """The test's own database (postgres only)."""

    @property
    def shared(self) -> bool:
        return self.url is not None

    @property
    def env(self) -> dict[str, str]:
        """The TERMMATE_ variables that select this store."""
        return {"TERMMATE_STORE__URL": self.url} if self.url else {}

    # -- PostgreSQL ------------------------------------------------------------------------

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``query`` on the test's database (autocommit); its rows, if any."""
        import psycopg

        assert self.url is not None, "only the postgres store has a database"
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def termmate_sessions(self, *, waiting_for_a_lock: bool = False) -> list[int]:
        """The server pids of termmate's connections to the test's database."""
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s"
        )
        if waiting_for_a_lock:
            query += " AND wait_event_type = 'Lock'"
        return [row[0] for row in self.sql(query, (APPLICATION,))]

    def cut_termmate_off(self) -> int:
        """End every termmate session on the test's database (as a server restart would);
        how many there were."""
        rows = self.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            (APPLICATION,),
        )
        return len(rows)

    # -- damaging a saved conversation ------------------------------------------------------

    def edit_saved_messages(
        self, env: Mapping[str, str], thread_id: str, edit: Callable[[list[Any]], object]
    ) -> None:
        """Rewrite the newest saved messages of ``thread_id`` (msgpack as LangGraph wrote it)
        with ``edit(messages)``: a list is packed again, bytes are written as they are."""
        if self.shared:
            self._edit_postgres(thread_id, edit)
        else:
            self._edit_sqlite(Path(env["TERMMATE_DATA_DIR"]) / "threads.sqlite", edit)

    @staticmethod
    def _edit_sqlite(db: Path, edit: Callable[[list[Any]], object]) -> None:
        with sqlite3.connect(db) as conn:
            rowid, blob = conn.execute(
                "SELECT rowid, checkpoint FROM checkpoints ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
            checkpoint = msgpack.unpackb(blob, raw=False, strict_map_key=False)
            edited = edit(checkpoint["channel_values"]["messages"])
            if isinstance(edited, bytes):
                new = edited  # the whole checkpoint replaced
            else:
                checkpoint["channel_values"]["messages"] = edited
                new = msgpack.packb(checkpoint, use_bin_type=True)
            conn.execute("UPDATE checkpoints SET checkpoint = ? WHERE rowid = ?", (new, rowid))

    def _edit_postgres(self, thread_id: str, edit: Callable[[list[Any]], object]) -> None:
        # PostgreSQL keeps each channel's value apart, one blob per version.
        [(version, blob)] = self.sql(
            "SELECT version, blob FROM checkpoint_blobs WHERE thread_id = %s "
            "AND channel = 'messages' ORDER BY version DESC LIMIT 1",
            (thread_id,),
        )
        edited = edit(msgpack.unpackb(blob, raw=False, strict_map_key=False))
        new = edited if isinstance(edited, bytes) else msgpack.packb(edited, use_bin_type=True)
        self.sql(
            "UPDATE checkpoint_blobs SET blob = %s WHERE thread_id = %s "
            "AND channel = 'messages' AND version = %s",
            (new, thread_id, version),
        )
