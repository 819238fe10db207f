"""The local chat backend: a GGUF model run by llama.cpp in this process (see llama.py)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from config import LocalSettings

from .errors import ModelError
from .llama import LlamaWorker
from .model_files import display_name
from .types import ChatRequest, ProgressCallback


class LocalChat:
    """Chat with ``local.chat_model`` in this process (a fallback.LocalBackend)."""

    def __init__(
        self,
        settings: LocalSettings,
        models_dir: Path,
        *,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        kwargs: dict[str, Any] = {"n_ctx": settings.n_ctx, "n_gpu_layers": settings.n_gpu_layers}
        if settings.threads is not None:
            kwargs["n_threads"] = settings.threads
        self.worker = LlamaWorker(
            settings.chat_model,
            models_dir,
            setting="local.chat_model",
            llama_kwargs=kwargs,
            progress=progress,
        )

    @property
    def label(self) -> str:
        return display_name(self.settings.chat_model)

    @property
    def configured(self) -> bool:
        return bool(self.settings.chat_model)

    @property
    def loaded(self) -> bool:
        return self.worker.loaded

    async def prepare(self, *, allow_download: bool) -> None:
        await self.worker.load(allow_download=allow_download)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        kwargs: dict[str, Any] = {
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.json_schema is not None:
            # llama-cpp-python turns the schema into a grammar that constrains sampling.
            kwargs["response_format"] = {
                "type": "json_object",
                "schema": request.json_schema.schema,
            }

        def produce(llama: Any, emit: Callable[[str], None], stop: threading.Event) -> None:
            try:
                chunks = llama.create_chat_completion(**kwargs)
                for chunk in chunks:
                    if stop.is_set():
                        chunks.close()
                        return
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        emit(text)
            except ValueError as exc:
                if "context window" in str(exc):
                    raise ModelError(
                        "the conversation no longer fits the local model's context "
                        f"(local.n_ctx = {self.settings.n_ctx}); start a new conversation "
                        "or raise TERMMATE_LOCAL__N_CTX"
                    ) from exc
                raise

        async for text in self.worker.stream(produce):
            yield text

    async def aclose(self) -> None:
        await self.worker.aclose()
