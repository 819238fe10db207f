"""Embeddings for long-term memory: the remote model or the local one, by the one policy
(fallback.py), behind the small ``Embedder`` shape the memory store uses.

Remote and local must be the same model for searches to stay sound (the store checks only the
vector size). Queries and documents get the prefixes e5-style models expect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from config import Mode, ServiceStatus, Settings

from .downloads import Downloads
from .embed_local import LocalEmbedder
from .embed_remote import RemoteEmbedder
from .fallback import Fallback, ModelKind
from .local_only import LocalOnly

EmbedKind = Literal["query", "document"]

EMBEDDINGS = ModelKind("embedding model", "TERMMATE_EMBED__URL", "TERMMATE_LOCAL__EMBED_MODEL")

EmbeddingModels = Fallback[RemoteEmbedder, LocalEmbedder]


class Embedder(Protocol):
    """Turns texts into vectors of one fixed size (what the memory store needs)."""

    @property
    def label(self) -> str:
        """What to show as the embedding model."""
        ...

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        """One vector per text. ``kind`` lets models that want it tell queries from documents."""
        ...

    async def aclose(self) -> None: ...


def embedding_models(
    settings: Settings,
    *,
    mode: Mode | None = None,
    downloads: Downloads | None = None,
    on_change: Callable[[], None] | None = None,
) -> EmbeddingModels:
    """The embedding models of ``settings``: ``[embed]`` remotely, ``local.embed_model`` here."""
    downloads = downloads or Downloads()
    embed = settings.embed
    return Fallback(
        EMBEDDINGS,
        mode=mode or settings.mode,
        make_remote=(lambda: RemoteEmbedder(embed)) if embed.configured else None,
        local=LocalEmbedder(
            settings.local, settings.models_dir, progress=downloads.progress_for(EMBEDDINGS.noun)
        ),
        retry_remote_after_s=embed.retry_remote_after_s,
        downloads=downloads,
        on_change=on_change,
    )


class Embeddings:
    """An Embedder over the embedding models (or over their local model alone)."""

    def __init__(
        self, settings: Settings, models: EmbeddingModels | LocalOnly[LocalEmbedder]
    ) -> None:
        self._settings = settings
        self.models = models

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        mode: Mode | None = None,
        downloads: Downloads | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> Embeddings:
        models = embedding_models(settings, mode=mode, downloads=downloads, on_change=on_change)
        return cls(settings, models)

    @property
    def label(self) -> str:
        return self.models.label

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        memory = self._settings.memory
        prefix = memory.embed_query_prefix if kind == "query" else memory.embed_document_prefix
        prepared = [prefix + text for text in texts]
        vectors, _ = await self.models.call(lambda model: model.embed(prepared))
        return vectors

    def local_only(self) -> Embeddings:
        """The local model alone, for callers in offline mode (no network, no download)."""
        return Embeddings(self._settings, self.models.local_only())

    async def set_mode(self, mode: Mode) -> None:
        await self.models.set_mode(mode)

    def statuses(self) -> tuple[ServiceStatus, ...]:
        return self.models.statuses()

    async def aclose(self) -> None:
        await self.models.aclose()


def offline_embedder(embedder: Embedder) -> Embedder | None:
    """What embeds for a caller in offline mode: the local part of ``embedder`` (no network,
    no download); ``embedder`` itself when it is not built from a Fallback (it runs here: a
    test double, say)."""
    local_only = getattr(embedder, "local_only", None)
    return embedder if local_only is None else local_only()
