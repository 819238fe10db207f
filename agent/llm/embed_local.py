"""The local embedding model: a GGUF embedding model run by llama.cpp in this process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config import LocalSettings

from .errors import NoModelAvailable
from .llama import LlamaWorker
from .model_files import display_name
from .types import ProgressCallback

# Memory texts are short; 512 tokens covers them and is what e5-style encoders accept.
LOCAL_EMBED_CONTEXT = 512


class LocalEmbedder:
    """``local.embed_model``: a fallback.LocalBackend."""

    def __init__(
        self, settings: LocalSettings, models_dir: Path, *, progress: ProgressCallback | None
    ) -> None:
        kwargs: dict[str, Any] = {
            "embedding": True,
            "n_ctx": LOCAL_EMBED_CONTEXT,
            "n_batch": LOCAL_EMBED_CONTEXT,
            "n_ubatch": LOCAL_EMBED_CONTEXT,
            "n_gpu_layers": settings.n_gpu_layers,
        }
        if settings.threads is not None:
            kwargs["n_threads"] = settings.threads
        self.spec = settings.embed_model
        self.worker = LlamaWorker(
            settings.embed_model,
            models_dir,
            setting="local.embed_model",
            llama_kwargs=kwargs,
            progress=progress,
        )

    @property
    def label(self) -> str:
        return f"local {display_name(self.spec)}"

    @property
    def configured(self) -> bool:
        return bool(self.spec)

    @property
    def loaded(self) -> bool:
        return self.worker.loaded

    async def prepare(self, *, allow_download: bool) -> None:
        await self.worker.load(allow_download=allow_download)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        batch = list(texts)
        vectors = await self.worker.run(lambda llama: llama.embed(batch, truncate=True))
        if vectors and vectors[0] and isinstance(vectors[0][0], list):
            raise NoModelAvailable(
                f"local.embed_model {display_name(self.spec)} gives one vector per token, not "
                "one per text: it is not an embedding model. Set TERMMATE_LOCAL__EMBED_MODEL to "
                "a GGUF embedding model (e.g. multilingual-e5-small)."
            )
        return [list(map(float, vector)) for vector in vectors]

    async def aclose(self) -> None:
        await self.worker.aclose()
