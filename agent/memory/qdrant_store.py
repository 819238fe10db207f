"""mem0's Qdrant vector store, made fast and quiet for Qdrant local.

Every write goes to Qdrant local (the durable copy on disk) and to a VectorIndex (the copy in
memory that user-scoped searches read). Keyword search is off: mem0 would fetch a BM25 model
from the network for it (fastembed), and termmate opens no connection it was not told to.

Qdrant local keeps each point (payload text included) as a row of a SQLite file per
collection. SQLite leaves a deleted or replaced row's bytes in the file's free space, so a
forgotten memory's text would stay on disk; ``secure_delete`` makes SQLite overwrite them.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from mem0.vector_stores.qdrant import Qdrant
from qdrant_client import models
from qdrant_client.local.qdrant_local import QdrantLocal

from .scoped import SCOPE_KEY
from .scoped import simple_filters as _simple_filters
from .tiers import stored_vector
from .vector_index import VectorIndex

log = logging.getLogger(__name__)


class IndexedQdrant(Qdrant):
    """Qdrant local on disk, with user-scoped searches served from memory."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._overwrite_deleted_rows()
        self.index = VectorIndex(self.stored_dims(), scope_key=SCOPE_KEY)
        self._load_index()

    def _overwrite_deleted_rows(self) -> None:
        """Turn on SQLite's secure_delete for this collection's file in Qdrant local."""
        local = getattr(self.client, "_client", None)
        if not isinstance(local, QdrantLocal) or not local.persistent:
            return  # a Qdrant server, or Qdrant in memory: nothing of ours in a SQLite file
        collection = local.collections.get(self.collection_name)
        storage = getattr(getattr(collection, "storage", None), "storage", None)
        if not isinstance(storage, sqlite3.Connection):
            log.warning(
                "cannot make Qdrant local overwrite deleted memories in %s (qdrant-client "
                "changed how it stores points); their text may stay in the file's free space",
                self.collection_name,
            )
            return
        storage.execute("PRAGMA secure_delete = ON")

    # -- what the collection holds ------------------------------------------------------------

    def stored_dims(self) -> int:
        """The vector size the collection was created with."""
        params = self.client.get_collection(self.collection_name).config.params.vectors
        if isinstance(params, dict):
            params = params[""]
        return int(params.size)

    def _load_index(self) -> None:
        count = self.client.count(self.collection_name, exact=True).count
        if count == 0:
            return
        records, _ = self.client.scroll(
            self.collection_name, limit=count + 1, with_payload=True, with_vectors=True
        )
        for record in records:
            vector = stored_vector(record)
            if vector is not None:
                self.index.upsert(str(record.id), vector, dict(record.payload or {}))

    def records(self, *, with_vectors: bool = False) -> list[Any]:
        """Every point, read from disk-backed Qdrant (not the index)."""
        count = self.client.count(self.collection_name, exact=True).count
        if count == 0:
            return []
        records, _ = self.client.scroll(
            self.collection_name, limit=count + 1, with_payload=True, with_vectors=with_vectors
        )
        return records

    # -- mem0's vector store interface -----------------------------------------------------

    def _create_filter_indexes(self) -> None:
        """Payload indexes do nothing in Qdrant local (and it warns about them); skip them."""

    def _get_bm25_encoder(self) -> None:
        return None

    def keyword_search(self, query: str, top_k: int = 5, filters: dict | None = None) -> None:
        return None

    def insert(self, vectors: list, payloads: list | None = None, ids: list | None = None) -> None:
        super().insert(vectors=vectors, payloads=payloads, ids=ids)
        for position, vector in enumerate(vectors):
            point_id = str(ids[position] if ids is not None else position)
            payload = dict(payloads[position]) if payloads else {}
            self.index.upsert(point_id, vector, payload)

    def update(self, vector_id: Any, vector: list | None = None, payload: dict | None = None):
        super().update(vector_id=vector_id, vector=vector, payload=payload)
        point_id = str(vector_id)
        if payload is not None and vector is not None:
            self.index.upsert(point_id, vector, dict(payload))
        elif payload is not None:
            self.index.set_payload(point_id, payload)
        elif vector is not None:
            current = self.index.get(point_id) or {}
            self.index.upsert(point_id, vector, current)

    def delete(self, vector_id: Any) -> None:
        super().delete(vector_id=vector_id)
        self.index.remove(str(vector_id))

    def get(self, vector_id: Any) -> Any:
        payload = self.index.get(str(vector_id))
        if payload is None:
            return None
        return models.Record.model_construct(id=str(vector_id), payload=payload, vector=None)

    def search(self, query: str, vectors: list, top_k: int = 5, filters: dict | None = None):
        simple = _simple_filters(filters)
        if simple is None:
            return super().search(query=query, vectors=vectors, top_k=top_k, filters=filters)
        scope = simple.pop(SCOPE_KEY)
        hits = self.index.search(vectors, top_k, scope, where=simple or None)
        return [
            models.ScoredPoint.model_construct(
                id=hit.id, version=0, score=hit.score, payload=hit.payload, vector=None
            )
            for hit in hits
        ]

    def list(self, filters: dict | None = None, top_k: int | None = 100) -> Any:
        simple = _simple_filters(filters)
        if simple is None:
            return super().list(filters=filters, top_k=top_k or 100)
        scope = simple.pop(SCOPE_KEY)
        rows = [
            models.Record.model_construct(id=point_id, payload=payload, vector=None)
            for point_id, payload in self.index.items(scope)
            if all(payload.get(key) == value for key, value in simple.items())
        ]
        return (rows[:top_k] if top_k else rows), None

    def delete_col(self) -> None:
        super().delete_col()
        self.index.clear()

    def reset(self) -> None:
        super().reset()
        self.index = VectorIndex(self.stored_dims(), scope_key=SCOPE_KEY)
