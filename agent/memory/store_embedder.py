"""The memory store's use of its embedding model: the model's vector size, what is wrong with it,
and which model may embed for a caller in offline mode.

The one place in the store that uses the embedding models (agent.llm.embeddings).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..llm.embeddings import Embedder, EmbedKind, offline_embedder
from ..llm.errors import ModelError
from .errors import MemoryStoreError, MemoryUnavailable

PROBE_TEXT = "dimension probe"

__all__ = ["PROBE_TEXT", "EmbedKind", "Embedder", "StoreEmbedder"]


class StoreEmbedder:
    """The store's embedding model (None when none is configured), and what it has shown."""

    def __init__(self, embedder: Embedder | None, problem: str | None = None) -> None:
        self.model = embedder
        self.problem: str | None = problem or (
            None if embedder else "no embedding model is configured"
        )
        """Why the model cannot embed now (None: it can)."""
        self.dims: int | None = None
        """The vector size the model gave last (None until it has embedded once)."""
        self._last_probe = 0.0

    @property
    def label(self) -> str:
        return self.model.label if self.model is not None else "the embedding model"

    async def probe(self) -> None:
        """Embed a probe text: learn the model's vector size, or what is wrong with it."""
        self._last_probe = time.monotonic()
        if self.model is None:
            return
        try:
            vectors = await self.model.embed([PROBE_TEXT], "document")
        except (ModelError, MemoryStoreError) as exc:
            self.problem = exc.reason
            return
        self.dims = len(vectors[0])
        self.problem = None

    def probe_due(self, interval_s: float) -> bool:
        """Whether a failed model should be tried again (at most every ``interval_s``)."""
        due = time.monotonic() - self._last_probe >= interval_s
        return self.problem is not None and self.model is not None and due

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        """Vectors from the store's own model (which may use the network)."""
        assert self.model is not None
        try:
            vectors = await self.model.embed(texts, kind)
        except ModelError as exc:
            raise MemoryUnavailable(f"cannot embed text for memory: {exc.reason}") from exc
        return vectors

    # -- callers in offline mode ----------------------------------------------------------------

    def switch_offline(self, offline: bool) -> bool:
        """Whether an ``offline`` caller needs another model than the store's own (which may
        use the network: auto or online mode)."""
        if not offline or self.model is None:
            return False
        return offline_embedder(self.model) is not self.model

    def offline_model(self) -> Embedder:
        """The model that embeds for an offline caller: no network, no download."""
        local = offline_embedder(self.model) if self.model is not None else None
        if local is None:
            raise MemoryUnavailable(
                "this process is in offline mode, and the process that owns the memory store "
                "has no local embedding model to embed its text without the network; set "
                "local.embed_model, or leave offline mode"
            )
        return local

    async def embed_offline(
        self, texts: Sequence[str], kind: EmbedKind, store_dims: int | None
    ) -> list[list[float]]:
        """Vectors for an offline caller, which must fit a store of ``store_dims``."""
        local = self.offline_model()
        try:
            vectors = await local.embed(texts, kind)
        except ModelError as exc:
            raise MemoryUnavailable(
                f"cannot embed text for memory in offline mode: {exc.reason}"
            ) from exc
        # The store stays as it is: only this caller's model does not fit it.
        for vector in vectors:
            if store_dims is not None and len(vector) != store_dims:
                raise MemoryUnavailable(
                    f"this process is in offline mode, and {local.label} gives "
                    f"{len(vector)}-dimensional vectors, but the memory store holds "
                    f"{store_dims}-dimensional ones; give [embed] and local.embed_model "
                    "the same model, or leave offline mode"
                )
        return vectors

    async def for_reindex(self, offline: bool) -> tuple[Embedder, int]:
        """The model a reindex re-embeds with (an offline caller's: the local one) and its
        vector size (MemoryUnavailable when it cannot embed)."""
        if self.model is None:
            raise MemoryUnavailable(f"cannot reindex: {self.problem}")
        if self.switch_offline(offline):
            model = self.offline_model()
            return model, len((await reembed(model, [PROBE_TEXT], offline=True))[0])
        await self.probe()
        if self.problem or self.dims is None:
            raise MemoryUnavailable(f"cannot reindex: {self.problem}")
        return self.model, self.dims

    async def aclose(self) -> None:
        if self.model is not None:
            await self.model.aclose()


async def reembed(model: Embedder, texts: Sequence[str], *, offline: bool) -> list[list[float]]:
    """Documents re-embedded by a reindex's model, of whatever size it gives."""
    try:
        return await model.embed(texts, "document")
    except ModelError as exc:
        mode = " in offline mode" if offline else ""
        raise MemoryUnavailable(f"cannot reindex{mode}: {exc.reason}") from exc
