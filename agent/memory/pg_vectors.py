"""A tier in PostgreSQL: mem0's pgvector store over one table of ours, and the reads the engine
makes of a tier (``PgIndex``), answered by SQL.

Each tier is a table ``termmate_fresh`` / ``termmate_old`` of mem0's shape (``id uuid``,
``vector vector(d)``, ``payload jsonb``) with an HNSW index for cosine distance and a b-tree
on (user, text hash) for scoping and the "same text" check. Keyword search is off: it needs
lemmatised text, which termmate never writes (spaCy is off, see mem0_setup).

pgvector 0.6 filters an HNSW scan's rows after the index chose them: a search scoped to one
user reads ``hnsw.ef_search`` candidates and keeps that user's, so it may come back short
while the user has more. ``PgIndex.search`` raises ``ef_search`` for its query and, when the
answer is short, asks again by exact distance over that user's rows alone (through the user
b-tree: cheap for a user with few memories, and a user with many fills the index answer).

Every value is a bound parameter; table names and payload keys go through psycopg.sql.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from mem0.vector_stores.pgvector import OutputData, PGVector
from psycopg import sql
from psycopg.types.json import Jsonb

from .scoped import SCOPE_KEY, simple_filters
from .vector_index import IndexHit

TABLE_PREFIX = "termmate_"
_SCOPE = sql.SQL("(payload->>{})").format(sql.Literal(SCOPE_KEY))
# HNSW candidates per search: at least this many, and twice what was asked for.
_MIN_EF_SEARCH = 100
_MAX_EF_SEARCH = 1000  # pgvector's limit


def table_of(tier: str) -> str:
    """The table that holds ``tier``."""
    return f"{TABLE_PREFIX}{tier}"


def canonical_id(point_id: object) -> uuid.UUID | None:
    """``point_id`` as a UUID when it is one in canonical form (as ids are handed out), else
    None: a user's text never reaches the database as an id it cannot be."""
    try:
        value = uuid.UUID(str(point_id))
    except ValueError:
        return None
    return value if str(value) == point_id else None


def as_vector(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """A vector as pgvector's adapter sends it (float32, binary)."""
    return np.asarray(values, dtype=np.float32)


def vector_values(value: Any) -> list[float]:
    """A vector read back from PostgreSQL (pgvector's Vector) as a list of floats."""
    to_numpy = getattr(value, "to_numpy", None)
    return (to_numpy() if to_numpy is not None else np.asarray(value)).astype(float).tolist()


def create_tier(conn: Any, table: str, dims: int) -> None:
    """The tier's table and its indexes, when missing (callers hold the set-up lock)."""
    name = sql.Identifier(table)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} "
            "(id uuid PRIMARY KEY, vector vector({}) NOT NULL, payload jsonb NOT NULL)"
        ).format(name, sql.Literal(dims))
    )
    create_indexes(conn, table, table)


def create_indexes(conn: Any, table: str, named_for: str) -> None:
    """The HNSW and user indexes of ``table``, named after the tier table ``named_for``."""
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (vector vector_cosine_ops)").format(
            sql.Identifier(f"{named_for}_hnsw"), sql.Identifier(table)
        )
    )
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, (payload->>'hash'))").format(
            sql.Identifier(f"{named_for}_scope"), sql.Identifier(table), _SCOPE
        )
    )


def _scope_is(scope: str | None) -> tuple[sql.Composable, list[Any]]:
    if scope is None:
        return sql.SQL("{} IS NULL").format(_SCOPE), []
    return sql.SQL("{} = %s").format(_SCOPE), [scope]


class PgIndex:
    """The reads of one tier, as the in-memory VectorIndex answers them for Qdrant local."""

    def __init__(self, pool: Any, table: str) -> None:
        self._pool = pool
        self.table = table
        self._name = sql.Identifier(table)

    def _fetch(self, query: sql.Composable, params: Sequence[Any], binary: bool = False) -> list:
        with self._pool.connection() as conn:
            return conn.execute(query, params, binary=binary).fetchall()

    def _select(self, what: str, where: sql.Composable) -> sql.Composable:
        """SELECT ``what`` (columns of ours, never input) FROM this tier WHERE ``where``."""
        return sql.SQL("SELECT {} FROM {} WHERE {}").format(sql.SQL(what), self._name, where)

    def __len__(self) -> int:
        return int(self._fetch(sql.SQL("SELECT count(*) FROM {}").format(self._name), [])[0][0])

    def count(self, scope: str | None) -> int:
        """How many memories ``scope`` (a user) has."""
        where, params = _scope_is(scope)
        return int(self._fetch(self._select("count(*)", where), params)[0][0])

    def __contains__(self, point_id: object) -> bool:
        key = canonical_id(point_id)
        return key is not None and bool(self._fetch(self._select("1", sql.SQL("id = %s")), [key]))

    def get(self, point_id: object) -> dict[str, Any] | None:
        key = canonical_id(point_id)
        if key is None:
            return None
        rows = self._fetch(self._select("payload", sql.SQL("id = %s")), [key])
        return dict(rows[0][0]) if rows else None

    def scope_of(self, point_id: object) -> str | None:
        payload = self.get(point_id)
        return None if payload is None else payload.get(SCOPE_KEY)

    def find(self, scope: str | None, key: str, value: Any) -> str | None:
        """The id of a memory of ``scope`` whose payload has ``key`` equal to ``value``."""
        where, params = _scope_is(scope)
        match = sql.SQL("{} AND payload->>{} = %s LIMIT 1").format(where, sql.Literal(key))
        rows = self._fetch(self._select("id", match), [*params, str(value)])
        return str(rows[0][0]) if rows else None

    def hashes(self, scope: str, digests: Sequence[str]) -> set[str]:
        """Which of the text hashes ``digests`` memories of ``scope`` hold."""
        where, params = _scope_is(scope)
        match = sql.SQL("{} AND payload->>'hash' = ANY(%s)").format(where)
        rows = self._fetch(self._select("payload->>'hash'", match), [*params, list(digests)])
        return {row[0] for row in rows}

    def ids_with_prefix(self, scope: str | None, prefix: str) -> list[str]:
        where, params = _scope_is(scope)
        match = sql.SQL("{} AND starts_with(id::text, %s)").format(where)
        return [str(row[0]) for row in self._fetch(self._select("id", match), [*params, prefix])]

    def vector(self, point_id: object) -> np.ndarray | None:
        key = canonical_id(point_id)
        if key is None:
            return None
        rows = self._fetch(self._select("vector", sql.SQL("id = %s")), [key], binary=True)
        return np.asarray(vector_values(rows[0][0]), dtype=np.float32) if rows else None

    def items(self, scope: str | None = None, *, all_scopes: bool = False) -> Iterator[tuple]:
        """(id, payload) pairs of one scope (user), or of every scope with ``all_scopes``."""
        where, params = (sql.SQL("true"), []) if all_scopes else _scope_is(scope)
        for point_id, payload in self._fetch(self._select("id, payload", where), params):
            yield str(point_id), dict(payload)

    def stamps(self, scope: str | None) -> list[tuple[str, dict[str, Any]]]:
        """(id, {"updated_at", "created_at"}) of every memory (of ``scope``, unless None):
        what cleanup needs to find the stale ones, without their texts."""
        where, params = (sql.SQL("true"), []) if scope is None else _scope_is(scope)
        what = "id, payload->>'updated_at', payload->>'created_at'"
        return [
            (str(point_id), {"updated_at": updated, "created_at": created})
            for point_id, updated, created in self._fetch(self._select(what, where), params)
        ]

    def search(
        self,
        query: Sequence[float] | np.ndarray,
        limit: int,
        scope: str | None,
        where: Mapping[str, Any] | None = None,
    ) -> list[IndexHit]:
        """The ``limit`` memories of ``scope`` closest to ``query`` (cosine), best first;
        ``where`` keeps only those whose payload equals each given value."""
        if limit <= 0:
            return []
        condition, params = _scope_is(scope)
        for key, value in (where or {}).items():
            condition = sql.SQL("{} AND payload->>{} = %s").format(condition, sql.Literal(key))
            params.append(str(value))
        vector = as_vector(query)
        distance = sql.SQL("vector <=> %s")
        # "+ 0" makes the order one the HNSW index cannot give: an exact scan of the scope.
        exact = sql.SQL("({}) + 0").format(distance)
        with self._pool.connection() as conn:
            with conn.transaction():
                ef = min(_MAX_EF_SEARCH, max(_MIN_EF_SEARCH, 2 * limit))
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
                rows = conn.execute(self._nearest(distance, condition), (vector, *params, limit))
                rows = rows.fetchall()
            if len(rows) < limit:  # the index's candidates held too few of this scope's
                rows = conn.execute(self._nearest(exact, condition), (vector, *params, limit))
                rows = rows.fetchall()
        return [IndexHit(str(i), 1.0 - float(d), dict(p)) for i, d, p in rows]

    def _nearest(self, distance: sql.Composable, condition: sql.Composable) -> sql.Composable:
        return sql.SQL(
            "SELECT id, {distance} AS distance, payload FROM {table} WHERE {condition} "
            "ORDER BY distance LIMIT %s"
        ).format(distance=distance, table=self._name, condition=condition)


class PgTier(PGVector):
    """mem0's pgvector store over one tier's table, on the store's connection pool."""

    def __init__(self, **config: Any) -> None:
        pool = config["connection_pool"]
        super().__init__(
            dbname=None,
            collection_name=config["collection_name"],
            embedding_model_dims=config["embedding_model_dims"],
            user=None,
            password=None,
            host=None,
            port=None,
            diskann=False,
            hnsw=True,
            connection_pool=pool,
        )
        self._collection_ensured = True  # the store created the table (create_tier)
        self.index = PgIndex(pool, self.collection_name)

    def __del__(self) -> None:
        """Nothing: the pool is the store's, closed when the store closes (mem0's closes it)."""

    def create_col(self) -> None:
        with self.connection_pool.connection() as conn:
            create_tier(conn, self.collection_name, self.embedding_model_dims)

    def keyword_search(self, query: str, top_k: int = 5, filters: dict | None = None) -> None:
        return None

    def insert(self, vectors: list, payloads: list | None = None, ids: list | None = None) -> None:
        payloads = payloads or [{} for _ in vectors]
        ids = ids or [str(uuid.uuid4()) for _ in vectors]
        rows = [
            (uuid.UUID(str(point_id)), as_vector(vector), Jsonb(payload))
            for point_id, vector, payload in zip(ids, vectors, payloads, strict=True)
        ]
        query = sql.SQL("INSERT INTO {} (id, vector, payload) VALUES (%s, %s, %s)")
        with self.connection_pool.connection() as conn, conn.cursor() as cursor:
            cursor.executemany(query.format(self._col()), rows)

    def update(
        self, vector_id: str, vector: list[float] | None = None, payload: dict | None = None
    ) -> None:
        """Change the memory's vector and/or payload in one statement; KeyError when it is not
        in this tier (moved or forgotten meanwhile by another process)."""
        query = sql.SQL(
            "UPDATE {} SET vector = coalesce(%s, vector), payload = coalesce(%s, payload) "
            "WHERE id = %s"
        ).format(self._col())
        new_vector = None if vector is None else as_vector(vector)
        new_payload = None if payload is None else Jsonb(payload)
        with self.connection_pool.connection() as conn:
            changed = conn.execute(query, (new_vector, new_payload, uuid.UUID(str(vector_id))))
            if changed.rowcount == 0:
                raise KeyError(vector_id)

    def search(
        self, query: str, vectors: list, top_k: int | None = 5, filters: dict | None = None
    ) -> list[OutputData]:
        simple = simple_filters(filters)
        if simple is None:
            return super().search(query=query, vectors=vectors, top_k=top_k, filters=filters)
        scope = simple.pop(SCOPE_KEY)
        hits = self.index.search(vectors, top_k or 5, scope, where=simple or None)
        return [OutputData(id=hit.id, score=hit.score, payload=hit.payload) for hit in hits]
