"""Settings for long-term memory (mem0 over Qdrant local) and the embedding models it uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from ._endpoints import EndpointSettings, SectionModel


class EmbedSettings(EndpointSettings):
    """The remote embedding model: an OpenAI-compatible /v1/embeddings (vLLM, llama.cpp server)."""

    RENAMED: ClassVar[Mapping[str, str]] = {"probe_interval_s": "retry_remote_after_s"}

    max_retries: int = Field(1, ge=0, le=10)
    """Retries on connection errors, 5xx and 429 before auto mode falls back to the local model.
    Kept low: a memory search runs before every reply."""


class MemorySettings(SectionModel):
    """Long-term memory."""

    enabled: bool = True
    """Remember facts about the user across conversations."""
    fresh_days: int = Field(30, ge=1)
    """Memories not updated for this many days move from the fresh tier to the old one."""
    sequential_probing: bool = True
    """Search old memories too when fresh ones give fewer than search_k good hits."""
    search_k: int = Field(5, ge=1, le=50)
    """How many memories a search returns."""
    score_threshold: float = Field(0.3, ge=0, le=1)
    """Minimum similarity for a hit to count as good."""
    same_fact_threshold: float = Field(0.85, ge=0, le=1)
    """Similarity above which a newly learnt fact replaces a remembered one instead of being
    added beside it (and above which a request to forget something matches a memory).
    Depends on the embedding model: e5-style models score unrelated texts around 0.75."""
    search_timeout_s: float = Field(5.0, gt=0)
    """Longest a turn waits for the memory search before answering without memories."""
    embed_query_prefix: str = "query: "
    """Put before a search query when embedding it (e5 models expect "query: ")."""
    embed_document_prefix: str = "passage: "
    """Put before a memory's text when embedding it (e5 models expect "passage: ")."""
