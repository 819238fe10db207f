"""Settings for long-term memory (mem0 over Qdrant local) and the embedding models it uses."""

from __future__ import annotations

from pydantic import Field

from ._endpoints import EndpointSettings, SectionModel


class EmbedSettings(EndpointSettings):
    """The remote embedding model: an OpenAI-compatible /v1/embeddings (vLLM, llama.cpp server)."""


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
