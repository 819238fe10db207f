"""Embedding models for memory: remote (/v1/embeddings) and local (llama.cpp), and the rule
that chooses between them — the same as for chat: auto tries the remote first and falls back to
the local model; online uses the remote only; offline the local model only, with no network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from config import Mode, Settings

from ..llm.errors import BadResponse, ModelError, NoModelAvailable
from ..llm.local import LlamaWorker
from ..llm.model_files import display_name, resolve_model_file
from ..llm.types import ProgressCallback

log = logging.getLogger(__name__)

EmbedKind = Literal["query", "document"]

# Memory texts are short; 512 tokens covers them and is what e5-style encoders accept.
LOCAL_EMBED_CONTEXT = 512


class Embedder(Protocol):
    """Turns texts into vectors of one fixed size."""

    @property
    def label(self) -> str:
        """What to show as the embedding model."""
        ...

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        """One vector per text. ``kind`` lets models that want it tell queries from documents."""
        ...

    async def aclose(self) -> None: ...


def offline_embedder(embedder: Embedder) -> Embedder | None:
    """What embeds for a caller in offline mode: ``embedder`` itself or a part of it that opens
    no network connection and downloads nothing; None when it has no such part.

    An embedder may say so with an ``offline_variant()`` method; one without it runs in this
    process (the local model, a test double) and is used as it is.
    """
    variant = getattr(embedder, "offline_variant", None)
    return embedder if variant is None else variant()


class RemoteEmbedder:
    """``[embed] url`` (an OpenAI-compatible server): POST /v1/embeddings."""

    def __init__(self, settings: Settings) -> None:
        from ..llm.openai_http import OpenAIClient

        self._settings = settings.embed
        self.client = OpenAIClient(
            settings.embed, section="embed", max_retries=settings.embed.max_retries
        )
        self._model = settings.embed.model

    @property
    def label(self) -> str:
        return f"remote {self._model or '(server default)'}"

    async def _resolve_model(self) -> str:
        if self._model is None:
            models = await self.client.list_models()
            if not models:
                raise BadResponse(
                    f"{self.client.base_url}/models lists no models; set TERMMATE_EMBED__MODEL"
                )
            self._model = models[0]
        return self._model

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        model = await self._resolve_model()
        body = {"model": model, "input": list(texts), "encoding_format": "float"}
        data = await self.client.post_json("/embeddings", body)
        where = f"{self.client.base_url}/embeddings"
        try:
            items = sorted(data["data"], key=lambda item: item.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError):
            raise BadResponse(f"{where} did not answer with embeddings") from None
        if len(vectors) != len(texts):
            raise BadResponse(f"{where} sent {len(vectors)} embeddings for {len(texts)} texts")
        return vectors

    def offline_variant(self) -> Embedder | None:
        return None  # it is all network

    async def aclose(self) -> None:
        await self.client.aclose()


class LocalEmbedder:
    """``local.embed_model``: a GGUF embedding model run by llama.cpp on its own thread."""

    def __init__(
        self, settings: Settings, *, allow_download: bool, progress: ProgressCallback | None
    ) -> None:
        local = settings.local
        kwargs: dict[str, Any] = {
            "embedding": True,
            "n_ctx": LOCAL_EMBED_CONTEXT,
            "n_batch": LOCAL_EMBED_CONTEXT,
            "n_ubatch": LOCAL_EMBED_CONTEXT,
            "n_gpu_layers": local.n_gpu_layers,
        }
        if local.threads is not None:
            kwargs["n_threads"] = local.threads
        self.spec = local.embed_model
        self._models_dir = settings.models_dir
        self.worker = LlamaWorker(
            local.embed_model,
            settings.models_dir,
            setting="local.embed_model",
            allow_download=allow_download,
            llama_kwargs=kwargs,
            progress=progress,
        )

    @property
    def label(self) -> str:
        return f"local {display_name(self.spec)}"

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        batch = list(texts)
        vectors = await self.worker.run(lambda llama: llama.embed(batch, truncate=True))
        if vectors and vectors[0] and isinstance(vectors[0][0], list):
            raise NoModelAvailable(
                f"local.embed_model {display_name(self.spec)} gives one vector per token, not "
                "one per text: it is not an embedding model. Set TERMMATE_LOCAL__EMBED_MODEL to "
                "a GGUF embedding model (e.g. multilingual-e5-small)."
            )
        return [list(map(float, vector)) for vector in vectors]

    async def embed_without_download(
        self, texts: Sequence[str], kind: EmbedKind
    ) -> list[list[float]]:
        """``embed``, refusing (NoModelAvailable) when the model would have to be downloaded."""
        if not self.worker.loaded:
            await resolve_model_file(
                self.spec, self._models_dir, setting=self.worker.setting, allow_download=False
            )
        return await self.embed(texts, kind)

    async def aclose(self) -> None:
        await self.worker.aclose()


class EmbeddingRouter:
    """The embedder the mode allows; in auto mode the remote, falling back to the local model.

    While falling back, the remote is tried again every ``embed.probe_interval_s``. Both models
    must give vectors of the same size; give them the same model for searches to stay sound.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        mode: Mode | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._settings = settings
        self._progress = progress
        self.mode = mode or settings.mode
        self.remote: RemoteEmbedder | None = None
        self.local: LocalEmbedder | None = None
        self.fallback_reason: str | None = None
        self._fallback_since = 0.0
        self._apply_mode()

    def _apply_mode(self) -> None:
        settings = self._settings
        if self.mode is not Mode.OFFLINE and settings.embed.configured and self.remote is None:
            self.remote = RemoteEmbedder(settings)
        if self.local is None:
            self.local = LocalEmbedder(
                settings, allow_download=self.mode is not Mode.OFFLINE, progress=self._progress
            )
        self.local.worker.allow_download = self.mode is not Mode.OFFLINE

    async def set_mode(self, mode: Mode) -> None:
        """Follow the companion's mode; offline closes the remote connection pool at once."""
        self.mode = mode
        self.fallback_reason = None
        if mode is Mode.OFFLINE and self.remote is not None:
            remote, self.remote = self.remote, None
            await remote.aclose()
        self._apply_mode()

    @property
    def label(self) -> str:
        if self.mode is Mode.ONLINE and self.remote is None:
            return "remote (not configured)"
        if self._use_remote_first() and self.fallback_reason is None:
            assert self.remote is not None
            return self.remote.label
        assert self.local is not None
        label = self.local.label
        return f"{label} (fallback: {self.fallback_reason})" if self.fallback_reason else label

    def offline_variant(self) -> Embedder:
        """The local model alone, for callers in offline mode (while this router may be in
        auto or online mode for its own process)."""
        return self if self.mode is Mode.OFFLINE else _LocalOnly(self)

    def _prefixed(self, texts: Sequence[str], kind: EmbedKind) -> list[str]:
        memory = self._settings.memory
        prefix = memory.embed_query_prefix if kind == "query" else memory.embed_document_prefix
        return [prefix + text for text in texts]

    async def embed_locally(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        """Embed with the local model only: no network, no download."""
        assert self.local is not None
        return await self.local.embed_without_download(self._prefixed(texts, kind), kind)

    def _use_remote_first(self) -> bool:
        return self.mode is not Mode.OFFLINE and self.remote is not None

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        prepared = self._prefixed(texts, kind)
        if self.mode is Mode.ONLINE:
            if self.remote is None:
                raise NoModelAvailable(
                    "online mode needs a remote embedding model for memory: set "
                    "TERMMATE_EMBED__URL (an OpenAI-compatible base URL ending in /v1)"
                )
            return await self.remote.embed(prepared, kind)
        if self._use_remote_first() and self._remote_due():
            assert self.remote is not None
            try:
                vectors = await self.remote.embed(prepared, kind)
            except ModelError as exc:
                log.warning("remote embeddings failed, embedding locally: %s", exc.reason)
                self.fallback_reason = exc.reason
                self._fallback_since = time.monotonic()
            else:
                if self.fallback_reason is not None:
                    log.info("remote embeddings are back")
                self.fallback_reason = None
                return vectors
        assert self.local is not None
        try:
            return await self.local.embed(prepared, kind)
        except NoModelAvailable as exc:
            if self.fallback_reason is None:
                raise
            raise NoModelAvailable(
                f"the remote embedding model is unavailable ({self.fallback_reason}) and the "
                f"local one cannot run: {exc.reason}"
            ) from exc

    def _remote_due(self) -> bool:
        if self.fallback_reason is None:
            return True
        interval = self._settings.embed.probe_interval_s
        return time.monotonic() - self._fallback_since >= interval

    async def aclose(self) -> None:
        if self.remote is not None:
            await self.remote.aclose()
        if self.local is not None:
            await self.local.aclose()


class _LocalOnly:
    """An EmbeddingRouter's local model, for a caller in offline mode: never the remote."""

    def __init__(self, router: EmbeddingRouter) -> None:
        self._router = router

    @property
    def label(self) -> str:
        assert self._router.local is not None
        return self._router.local.label

    async def embed(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        return await self._router.embed_locally(texts, kind)

    async def aclose(self) -> None:
        return None  # the router owns the model
