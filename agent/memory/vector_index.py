"""An in-memory copy of one collection's vectors, grouped by user, for fast scoped search.

Qdrant local scores every point of a collection and filters payloads in a Python loop, which
takes about a second at 100k memories. Here each user's vectors sit in one contiguous float32
matrix, so a search is one matrix-vector product over that user's memories plus a partial sort.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_EPSILON = 1e-12


def unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    """The vector scaled to length 1 (cosine similarity becomes a dot product)."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > _EPSILON else array


@dataclass
class _Block:
    """One user's memories: row i holds ids[i], payloads[i] and vectors[i]."""

    dims: int
    vectors: np.ndarray = field(init=False)
    ids: list[str] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.vectors = np.zeros((16, self.dims), dtype=np.float32)

    @property
    def size(self) -> int:
        return len(self.ids)

    def append(self, point_id: str, vector: np.ndarray, payload: dict[str, Any]) -> int:
        row = self.size
        if row == len(self.vectors):
            grown = np.zeros((len(self.vectors) * 2, self.dims), dtype=np.float32)
            grown[:row] = self.vectors[:row]
            self.vectors = grown
        self.vectors[row] = vector
        self.ids.append(point_id)
        self.payloads.append(payload)
        return row

    def remove(self, row: int) -> str | None:
        """Drop ``row`` by moving the last row into it; returns the id that moved, if any."""
        last = self.size - 1
        moved = None
        if row != last:
            self.vectors[row] = self.vectors[last]
            self.ids[row] = self.ids[last]
            self.payloads[row] = self.payloads[last]
            moved = self.ids[row]
        self.ids.pop()
        self.payloads.pop()
        return moved


@dataclass(frozen=True, slots=True)
class IndexHit:
    id: str
    score: float
    payload: dict[str, Any]


class VectorIndex:
    """Vectors and payloads of one collection, searchable per user in a few milliseconds."""

    def __init__(self, dims: int, scope_key: str = "user_id") -> None:
        self.dims = dims
        self._scope_key = scope_key
        self._blocks: dict[str | None, _Block] = {}
        self._where: dict[str, tuple[str | None, int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, point_id: object) -> bool:
        return point_id in self._where

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            self._where.clear()

    def upsert(
        self, point_id: str, vector: Sequence[float] | np.ndarray | None, payload: dict[str, Any]
    ) -> None:
        """Add or replace a point. A ``vector`` of None keeps the point's current vector."""
        with self._lock:
            old_vector = None
            if point_id in self._where:
                scope, row = self._where[point_id]
                old_vector = self._blocks[scope].vectors[row].copy()
                self._remove_locked(point_id)
            if vector is None:
                if old_vector is None:
                    raise KeyError(f"no vector for new point {point_id}")
                normalized = old_vector
            else:
                normalized = unit(vector)
                if normalized.shape != (self.dims,):
                    raise ValueError(
                        f"a {normalized.shape[0]}-dimensional vector for a {self.dims}-dimensional "
                        "index"
                    )
            scope = payload.get(self._scope_key)
            block = self._blocks.get(scope)
            if block is None:
                block = self._blocks[scope] = _Block(self.dims)
            row = block.append(point_id, normalized, payload)
            self._where[point_id] = (scope, row)

    def set_payload(self, point_id: str, payload: Mapping[str, Any]) -> None:
        """Merge ``payload`` into the point's payload (as Qdrant's set_payload does)."""
        with self._lock:
            scope, row = self._where[point_id]
            merged = {**self._blocks[scope].payloads[row], **payload}
        self.upsert(point_id, None, merged)

    def remove(self, point_id: str) -> bool:
        with self._lock:
            return self._remove_locked(point_id)

    def _remove_locked(self, point_id: str) -> bool:
        where = self._where.pop(point_id, None)
        if where is None:
            return False
        scope, row = where
        block = self._blocks[scope]
        moved = block.remove(row)
        if moved is not None:
            self._where[moved] = (scope, row)
        if block.size == 0:
            del self._blocks[scope]
        return True

    def get(self, point_id: str) -> dict[str, Any] | None:
        with self._lock:
            where = self._where.get(point_id)
            if where is None:
                return None
            scope, row = where
            return dict(self._blocks[scope].payloads[row])

    def find(self, scope: str | None, key: str, value: Any) -> str | None:
        """The id of a point of ``scope`` whose payload has ``key`` equal to ``value``."""
        with self._lock:
            block = self._blocks.get(scope)
            if block is None:
                return None
            for point_id, payload in zip(block.ids, block.payloads, strict=True):
                if payload.get(key) == value:
                    return point_id
            return None

    def count(self, scope: str | None) -> int:
        """How many points ``scope`` (a user) has."""
        with self._lock:
            block = self._blocks.get(scope)
            return 0 if block is None else block.size

    def ids_with_prefix(self, scope: str | None, prefix: str) -> list[str]:
        with self._lock:
            block = self._blocks.get(scope)
            return [] if block is None else [i for i in block.ids if i.startswith(prefix)]

    def scope_of(self, point_id: str) -> str | None:
        with self._lock:
            where = self._where.get(point_id)
            return None if where is None else where[0]

    def vector(self, point_id: str) -> np.ndarray | None:
        with self._lock:
            where = self._where.get(point_id)
            if where is None:
                return None
            scope, row = where
            return self._blocks[scope].vectors[row].copy()

    def items(self, scope: str | None = None, *, all_scopes: bool = False) -> Iterator[tuple]:
        """(id, payload) pairs of one scope (user), or of every scope with ``all_scopes``."""
        with self._lock:
            blocks = list(self._blocks.values()) if all_scopes else [self._blocks.get(scope)]
            rows = [
                (point_id, dict(payload))
                for block in blocks
                if block is not None
                for point_id, payload in zip(block.ids, block.payloads, strict=True)
            ]
        yield from rows

    def search(
        self,
        query: Sequence[float] | np.ndarray,
        limit: int,
        scope: str | None,
        where: Mapping[str, Any] | None = None,
    ) -> list[IndexHit]:
        """The ``limit`` points of ``scope`` most similar to ``query``, best first.

        ``where`` keeps only points whose payload equals each given value.
        """
        vector = unit(query)
        if vector.shape != (self.dims,):
            raise ValueError(
                f"a {vector.shape[0]}-dimensional query for a {self.dims}-dimensional index"
            )
        with self._lock:
            block = self._blocks.get(scope)
            if block is None or block.size == 0 or limit <= 0:
                return []
            scores = block.vectors[: block.size] @ vector
            if where:
                order = np.argsort(-scores, kind="stable")
            elif limit < block.size:
                top = np.argpartition(-scores, limit)[:limit]
                order = top[np.argsort(-scores[top], kind="stable")]
            else:
                order = np.argsort(-scores, kind="stable")
            hits: list[IndexHit] = []
            for row in order:
                payload = block.payloads[row]
                if where and any(payload.get(key) != value for key, value in where.items()):
                    continue
                hits.append(IndexHit(block.ids[row], float(scores[row]), dict(payload)))
                if len(hits) >= limit:
                    break
            return hits
