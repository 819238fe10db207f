"""The local vision model: a GGUF VLM and its mmproj, run by llama.cpp's mtmd in this process.

llama-cpp-python's MTMDChatHandler renders the prompt with the model's own chat template (from
the GGUF), so any model family mtmd supports works without naming it (Qwen2.5-VL, Gemma 3,
SmolVLM, ...). The model lives on its own LlamaWorker thread, apart from the chat model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from config import LocalSettings
from vision import jpeg_data_uri

from .errors import ModelError, NoModelAvailable
from .llama import LlamaWorker
from .model_files import display_name, resolve_model_file
from .types import ProgressCallback

NOT_CONFIGURED = (
    "no local vision model: set TERMMATE_LOCAL__VISION_MODEL (a vision-language GGUF) and "
    "TERMMATE_LOCAL__VISION_MMPROJ (its mmproj GGUF)"
)


class LocalVision:
    """Describes frames with ``local.vision_model`` + ``local.vision_mmproj``; raises ModelError.

    Nothing is loaded until the first description.
    """

    def __init__(
        self,
        settings: LocalSettings,
        models_dir: Path,
        *,
        max_tokens: int,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.models_dir = models_dir
        self.max_tokens = max_tokens
        self.progress = progress
        self._worker: LlamaWorker | None = None
        self._mmproj: Path | None = None
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """Whether a local vision model is set."""
        return bool(self.settings.vision_model)

    @property
    def label(self) -> str:
        spec = self.settings.vision_model
        return display_name(spec) if spec else "(no local vision model)"

    @property
    def loaded(self) -> bool:
        return self._worker is not None and self._worker.loaded

    async def prepare(self, *, allow_download: bool) -> None:
        """Resolve both files (downloading them only when allowed) and load the model."""
        worker = await self._ready_worker(allow_download)
        await worker.load(allow_download=allow_download)

    async def describe(self, jpeg: bytes, prompt: str) -> str:
        """The local model's answer to ``prompt`` about the JPEG ``jpeg``."""
        worker = await self._ready_worker(allow_download=False)
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": jpeg_data_uri(jpeg)}},
                    {"type": "text", "text": prompt},
                ],
            }
        ]

        def complete(llama: Any) -> Any:
            return llama.create_chat_completion(
                messages=messages, max_tokens=self.max_tokens, temperature=0.2
            )

        try:
            result = await worker.run(complete)
        except ValueError as exc:
            raise self._explain(exc) from exc
        try:
            content = result["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ModelError("the local vision model gave no answer") from None
        return content or ""

    async def aclose(self) -> None:
        async with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            await worker.aclose()

    # -- loading -----------------------------------------------------------------------------

    async def _ready_worker(self, allow_download: bool) -> LlamaWorker:
        async with self._lock:
            if self._worker is not None:
                return self._worker
            model = self.settings.vision_model
            if not model:
                raise NoModelAvailable(NOT_CONFIGURED)
            mmproj_spec = self.settings.vision_mmproj
            if not mmproj_spec:
                raise NoModelAvailable(
                    "local.vision_model is set but local.vision_mmproj is not: set "
                    "TERMMATE_LOCAL__VISION_MMPROJ to the mmproj GGUF made for that model"
                )
            mmproj = await resolve_model_file(
                mmproj_spec,
                self.models_dir,
                setting="local.vision_mmproj",
                allow_download=allow_download,
                progress=self.progress,
            )
            handler = await asyncio.to_thread(
                _chat_handler, mmproj, use_gpu=self.settings.n_gpu_layers != 0
            )
            kwargs: dict[str, Any] = {
                "n_ctx": self.settings.n_ctx,
                "n_gpu_layers": self.settings.n_gpu_layers,
                "chat_handler": handler,
            }
            if self.settings.threads is not None:
                kwargs["n_threads"] = self.settings.threads
            self._mmproj = mmproj
            self._worker = LlamaWorker(
                model,
                self.models_dir,
                setting="local.vision_model",
                llama_kwargs=kwargs,
                progress=self.progress,
            )
            return self._worker

    def _explain(self, exc: ValueError) -> ModelError:
        text = str(exc)
        model = self.label
        if "mtmd context" in text or "Vision is not supported" in text:
            return NoModelAvailable(
                f"local.vision_mmproj: llama.cpp could not load {self._mmproj} as the vision "
                f"projector of {model}; is it the mmproj GGUF made for that model?"
            )
        if "exceeds n_ctx" in text:
            return ModelError(
                f"the screen does not fit the local vision model's context ({text}); raise "
                "TERMMATE_LOCAL__N_CTX or lower TERMMATE_VISION__MAX_SIDE"
            )
        if "chat_template" in text:
            return NoModelAvailable(
                f"local.vision_model: {model} has no chat template in its GGUF metadata, so "
                "llama.cpp cannot prompt it; use a GGUF converted with its template"
            )
        return ModelError(f"the local vision model ({model}) failed: {text}")


def _chat_handler(mmproj: Path, *, use_gpu: bool) -> Any:
    # Imported here, off the event loop: llama_cpp is heavy and only needed once sight is local.
    from llama_cpp.llama_chat_format import MTMDChatHandler

    from .llama import route_llama_logs

    route_llama_logs()
    _route_mtmd_logs()
    return MTMDChatHandler(clip_model_path=str(mmproj), verbose=False, use_gpu=use_gpu)


_mtmd_log_callback: Any = None


def _route_mtmd_logs() -> None:
    """Send mtmd's own logging (it prints every image it encodes) to our log file, not stderr:
    stray stderr lines would tear the TUI."""
    global _mtmd_log_callback
    if _mtmd_log_callback is not None:
        return
    import ctypes
    import logging

    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd_cpp

    mtmd_log = logging.getLogger("llama.cpp.mtmd")

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            mtmd_log.debug("%s", message)

    _mtmd_log_callback = callback  # keep a reference: ctypes does not
    mtmd_cpp.mtmd_log_set(callback, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(callback, ctypes.c_void_p(0))
