"""Plug termmate's own embedding and chat backends into mem0, with nothing phoning home.

mem0 builds its parts through factories from provider names. termmate registers its own
providers ("termmate" for the embedder and the LLM, "termmate_qdrant" for the vector store on
disk, "termmate_pgvector" for one in PostgreSQL), so mem0 never falls back to its OpenAI
defaults. mem0 2.2's config validators only accept the
providers they list, so the configs naming ours are built with ``model_construct``.

mem0 also keeps a change history (every text added, changed or deleted) and the raw input of
every add in SQLite. termmate never reads either, and a history on disk would keep the text of
a memory the user told it to forget, so neither is kept: not on disk, not in memory, not in
a shared database (a store in PostgreSQL has the same NoHistory in every process).

Import this module only after ``agent.memory`` (which switches telemetry off) and with
MEM0_DIR pointing into termmate's data dir (mem0 writes a small config file there on import).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

# The engine points MEM0_DIR into the store's directory before importing this module; any
# other import (a tool listing modules, say) still keeps mem0's files out of the home directory.
os.environ.setdefault(
    "MEM0_DIR", os.path.join(tempfile.gettempdir(), f"termmate-mem0-{os.getuid()}")
)

import mem0.memory.main as mem0_main
import mem0.memory.telemetry as mem0_telemetry
import mem0.utils.spacy_models as mem0_spacy
from mem0 import Memory
from mem0.configs.base import MemoryConfig
from mem0.embeddings.base import EmbeddingBase
from mem0.embeddings.configs import EmbedderConfig
from mem0.llms.base import LLMBase
from mem0.llms.configs import LlmConfig
from mem0.memory.storage import SQLiteManager
from mem0.utils.factory import EmbedderFactory, LlmFactory, VectorStoreFactory
from mem0.vector_stores.configs import VectorStoreConfig

from .errors import MemoryUnavailable

log = logging.getLogger(__name__)

PROVIDER = "termmate"
VECTOR_STORE_PROVIDER = "termmate_qdrant"
PG_VECTOR_STORE_PROVIDER = "termmate_pgvector"
# How long mem0 may wait (on the store's thread) for an embedding or a chat answer.
_BRIDGE_TIMEOUT_S = 120.0


def _silence_mem0() -> None:
    """Make sure mem0 neither sends telemetry nor downloads spaCy models."""
    if mem0_telemetry.MEM0_TELEMETRY or mem0_main.MEM0_TELEMETRY:
        # mem0 was imported before agent.memory could switch telemetry off.
        log.warning("mem0 was imported with telemetry on; switching it off")
        mem0_telemetry.MEM0_TELEMETRY = False
        mem0_main.MEM0_TELEMETRY = False
        mem0_telemetry.client_telemetry.close()
    # mem0 lemmatises and extracts entities with spaCy when it is installed, and downloads
    # en_core_web_sm from the network when the model is missing. Neither is wanted here.
    mem0_spacy._load_failed_full = True
    mem0_spacy._load_failed_lemma = True
    # mem0 logs every insert at INFO; termmate's log keeps only its warnings.
    logging.getLogger("mem0").setLevel(logging.WARNING)


def _register_providers() -> None:
    LlmFactory.register_provider(PROVIDER, f"{__name__}.TermmateLLM")
    EmbedderFactory.provider_to_class[PROVIDER] = f"{__name__}.TermmateEmbedding"
    VectorStoreFactory.provider_to_class[VECTOR_STORE_PROVIDER] = (
        "agent.memory.qdrant_store.IndexedQdrant"
    )
    VectorStoreFactory.provider_to_class[PG_VECTOR_STORE_PROVIDER] = (
        "agent.memory.pg_vectors.PgTier"
    )


_silence_mem0()
_register_providers()


@dataclass
class Mem0Binding:
    """What mem0's factory-built parts call back into: termmate's embedder and chat model.

    mem0 is synchronous and runs on the store's thread; the backends are asynchronous and run
    on the event loop. Vectors the store computed beforehand are served from ``prepared``;
    anything else is computed on the loop while the store's thread waits.
    """

    loop: asyncio.AbstractEventLoop
    embed: Callable[[str, str], Awaitable[list[float]]]
    """(text, "query" | "document") -> vector"""
    chat: Callable[[list[dict[str, Any]]], Awaitable[str]] | None = None
    prepared: dict[str, list[float]] = field(default_factory=dict)

    def run(self, coro: Awaitable[Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout=_BRIDGE_TIMEOUT_S)


_BINDINGS: dict[str, Mem0Binding] = {}


def bind(binding: Mem0Binding) -> str:
    """Register ``binding``; the key goes into mem0's configs as the "model"."""
    key = "termmate-" + secrets.token_hex(6)
    _BINDINGS[key] = binding
    return key


def unbind(key: str) -> None:
    _BINDINGS.pop(key, None)


class TermmateEmbedding(EmbeddingBase):
    """mem0's embedder: termmate's embedding router (remote or local, by mode)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.binding = _BINDINGS[self.config.model]

    def embed(self, text: Any, memory_action: str | None = None) -> list[float]:
        if isinstance(text, str) and text in self.binding.prepared:
            return self.binding.prepared[text]
        kind = "query" if memory_action == "search" else "document"
        return self.binding.run(self.binding.embed(str(text), kind))


class TermmateLLM(LLMBase):
    """mem0's LLM: termmate's model router. termmate extracts facts itself, so mem0 only
    reaches this if asked to infer, and then gets the model the companion talks with."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.binding = _BINDINGS[self.config.model]

    def generate_response(self, messages: list[dict[str, Any]], **_: Any) -> str:
        if self.binding.chat is None:
            raise MemoryUnavailable("mem0 asked for a chat model, but none is connected")
        return self.binding.run(self.binding.chat(messages))


class NoHistory(SQLiteManager):
    """mem0's history store, keeping nothing: an in-memory database whose writes are dropped.

    ``:memory:`` keeps it off the disk; dropping the writes keeps a long-running owner (an
    import of 100k memories, weeks of a TUI) from holding every text it ever saw in memory.
    Reads answer from the empty tables, so mem0 works as with a fresh history.
    """

    def __init__(self) -> None:
        super().__init__(":memory:")

    def add_history(self, *args: Any, **kwargs: Any) -> None:
        return None

    def batch_add_history(self, records: list[dict[str, Any]]) -> None:
        return None

    def save_messages(self, messages: list[dict[str, Any]], session_scope: str) -> None:
        return None


def build_memory(
    *,
    collection: str,
    client: Any,
    qdrant_path: str,
    dims: int,
    binding_key: str,
) -> Memory:
    """A mem0 Memory over one collection of the shared Qdrant local client, with no history."""
    from mem0.configs.vector_stores.qdrant import QdrantConfig

    vector_store = VectorStoreConfig.model_construct(
        provider=VECTOR_STORE_PROVIDER,
        config=QdrantConfig(
            collection_name=collection,
            embedding_model_dims=dims,
            client=client,
            path=qdrant_path,
            on_disk=True,
        ),
    )
    return _memory(vector_store, dims, binding_key)


def build_pg_memory(*, table: str, pool: Any, dims: int, binding_key: str) -> Memory:
    """A mem0 Memory over one tier's table in PostgreSQL (pgvector, HNSW), on ``pool`` (the
    store's psycopg_pool.ConnectionPool), with no history."""
    from mem0.configs.vector_stores.pgvector import PGVectorConfig

    vector_store = VectorStoreConfig.model_construct(
        provider=PG_VECTOR_STORE_PROVIDER,
        config=PGVectorConfig(
            collection_name=table, embedding_model_dims=dims, connection_pool=pool, hnsw=True
        ),
    )
    return _memory(vector_store, dims, binding_key)


def _memory(vector_store: VectorStoreConfig, dims: int, binding_key: str) -> Memory:
    config = MemoryConfig.model_construct(
        vector_store=vector_store,
        llm=LlmConfig.model_construct(provider=PROVIDER, config={"model": binding_key}),
        embedder=EmbedderConfig.model_construct(
            provider=PROVIDER, config={"model": binding_key, "embedding_dims": dims}
        ),
        history_db_path=":memory:",  # never a file (mem0 makes one if this is left out)
        reranker=None,
        version="v1.1",
        custom_instructions=None,
    )
    memory = Memory(config)
    memory.db.close()
    memory.db = NoHistory()
    return memory
