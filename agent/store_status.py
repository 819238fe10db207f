"""Where conversations, memories and the vocabulary live, and how many there are
(``termmate store status``).

Counting opens nothing for writing and loads no model: the embedded files are counted through
read-only SQLite connections (so it works while a running termmate has them open), and the
PostgreSQL of ``[store] url`` is asked with one connection, which also tells the server's and
pgvector's versions. Tables that do not exist yet count as empty; nothing is created.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .memory.events import Tier
from .memory.schemas import TIERS

if TYPE_CHECKING:
    from config import Settings

# The tables of the shared stores (agent.memory.pg_vectors.table_of names the tiers; it is not
# imported here because it loads mem0, which counting does not need).
_THREADS_TABLE = "termmate_threads"
_TERMS_TABLE = "controlled_vocabulary"
_TIER_TABLES: dict[Tier, str] = {tier: f"termmate_{tier}" for tier in TIERS}


@dataclass(frozen=True)
class StoreStatus:
    """Where the stores are, and what they hold (every user's)."""

    backend: Literal["embedded", "postgres"]
    where: str
    """The data dir, or ``database NAME on HOST:PORT`` (never a user or password)."""
    threads: int
    memories: dict[Tier, int]
    terms: int
    files: dict[str, str] = field(default_factory=dict)
    """Embedded: the file (or folder) of each store, by what it holds."""
    server_version: str | None = None
    vector_version: str | None = None
    """pgvector's version in the database (None: the extension is not created there)."""

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "backend": self.backend,
            "where": self.where,
            "threads": self.threads,
            "memories": dict(self.memories),
            "terms": self.terms,
        }
        if self.backend == "embedded":
            shown["files"] = dict(self.files)
        else:
            shown["server_version"] = self.server_version
            shown["pgvector_version"] = self.vector_version
        return shown


async def store_status(settings: Settings) -> StoreStatus:
    """The stores ``settings`` name, counted. Raises StoreUnavailable (naming the host) when
    the database cannot be reached."""
    if settings.store.shared:
        return await _postgres_status(settings)
    return await asyncio.to_thread(_embedded_status, settings)


def _embedded_status(settings: Settings) -> StoreStatus:
    from .memory.paths import StorePaths
    from .memory.store_files import count_rows, counted, stored_terms

    paths = StorePaths(settings.data_dir / "memory")
    return StoreStatus(
        backend="embedded",
        where=str(settings.data_dir),
        threads=count_rows(settings.threads_db, _THREADS_TABLE),
        memories=counted(paths),
        terms=len(stored_terms(paths)),
        files={
            "threads": str(settings.threads_db),
            "memories": str(paths.qdrant),
            "terms": str(paths.vocabulary),
        },
    )


async def _postgres_status(settings: Settings) -> StoreStatus:
    import psycopg

    from .postgres import Database

    database = Database(settings.store)
    conn = await database.connect()
    try:
        server = await _one(conn, "SHOW server_version")
        vector = await _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return StoreStatus(
            backend="postgres",
            where=database.where,
            threads=await _count(conn, _THREADS_TABLE),
            memories={tier: await _count(conn, table) for tier, table in _TIER_TABLES.items()},
            terms=await _count(conn, _TERMS_TABLE),
            server_version=server,
            vector_version=vector,
        )
    except psycopg.Error as exc:
        raise database.unavailable(exc, "read") from None
    finally:
        await conn.close()


async def _one(conn: Any, query: str) -> Any:
    row = await (await conn.execute(query)).fetchone()
    return None if row is None else row[0]


async def _count(conn: Any, table: str) -> int:
    """How many rows ``table`` holds (0: it does not exist yet)."""
    from psycopg import sql

    if await _one(conn, sql.SQL("SELECT to_regclass({})").format(sql.Literal(table))) is None:
        return 0
    return int(await _one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))))
