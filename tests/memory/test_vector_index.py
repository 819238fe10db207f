"""The in-memory index that serves user-scoped searches: same answers as brute force."""

from __future__ import annotations

import numpy as np
import pytest

from agent.memory.vector_index import VectorIndex, unit


def _random_index(rng: np.random.Generator, count: int, dims: int = 16) -> tuple:
    index = VectorIndex(dims)
    vectors = {}
    for i in range(count):
        vector = rng.standard_normal(dims)
        user = "a" if i % 3 else "b"
        index.upsert(f"id{i}", vector, {"user_id": user, "n": i, "kind": i % 2})
        vectors[f"id{i}"] = (unit(vector), user, i % 2)
    return index, vectors


def _brute_force(vectors: dict, query: np.ndarray, user: str, limit: int, kind=None) -> list:
    scored = [
        (float(v @ unit(query)), point_id)
        for point_id, (v, owner, k) in vectors.items()
        if owner == user and (kind is None or k == kind)
    ]
    return [point_id for _, point_id in sorted(scored, reverse=True)[:limit]]


def test_search_matches_brute_force_within_one_user() -> None:
    rng = np.random.default_rng(3)
    index, vectors = _random_index(rng, 300)
    for _ in range(10):
        query = rng.standard_normal(16)
        hits = index.search(query, 7, "a")
        assert [h.id for h in hits] == _brute_force(vectors, query, "a", 7)
        assert all(h.payload["user_id"] == "a" for h in hits)
        assert hits == sorted(hits, key=lambda h: h.score, reverse=True)
        filtered = index.search(query, 5, "b", where={"kind": 1})
        assert [h.id for h in filtered] == _brute_force(vectors, query, "b", 5, kind=1)


def test_removing_rows_keeps_every_other_point_findable() -> None:
    rng = np.random.default_rng(5)
    index, vectors = _random_index(rng, 120)
    for point_id in list(vectors)[::4]:
        assert index.remove(point_id)
        del vectors[point_id]
    assert not index.remove("id0")
    assert len(index) == len(vectors)
    for point_id, (vector, user, _) in vectors.items():
        best = index.search(vector, 1, user)[0]
        assert best.id == point_id and best.score == pytest.approx(1.0, abs=1e-5)


def test_upsert_replaces_and_moves_between_users_and_keeps_vectors_for_payload_updates() -> None:
    index = VectorIndex(3)
    index.upsert("x", [1, 0, 0], {"user_id": "a", "data": "one"})
    index.upsert("x", [0, 1, 0], {"user_id": "b", "data": "two"})
    assert index.search([1, 0, 0], 5, "a") == []
    assert index.search([0, 1, 0], 5, "b")[0].payload["data"] == "two"
    index.set_payload("x", {"data": "three"})
    hit = index.search([0, 1, 0], 5, "b")[0]
    assert hit.payload == {"user_id": "b", "data": "three"}
    assert hit.score == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3-dimensional index"):
        index.search([1, 0], 1, "b")
