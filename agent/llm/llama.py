"""One llama.cpp model in this process, on a thread of its own (llama-cpp-python).

llama_cpp is imported on first use, so nothing pays for it unless a local model answers. All
calls into one model run on its worker thread, one at a time, off the event loop. The chat,
vision, embedding (and any later) local backends each own one LlamaWorker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .errors import ModelError, NoModelAvailable
from .model_files import resolve_model_file
from .types import ProgressCallback

log = logging.getLogger(__name__)

_END = object()
_log_callback: Any = None


def route_llama_logs() -> None:
    """Send llama.cpp's own logging to our log file: stray stderr lines would tear the TUI."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    llama_log = logging.getLogger("llama.cpp")
    # ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation of the previous line.
    levels = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            llama_log.log(levels.get(level, logging.DEBUG), "%s", message)

    _log_callback = callback  # keep a reference: ctypes does not
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


class LlamaWorker:
    """One llama.cpp model on its own thread.

    Shared by the chat and embedding backends; ``run`` and ``stream`` serialise all use of it.
    """

    def __init__(
        self,
        spec: str,
        models_dir: Path,
        *,
        setting: str,
        llama_kwargs: dict[str, Any],
        progress: ProgressCallback | None = None,
    ) -> None:
        self.spec = spec
        self.setting = setting
        self._models_dir = models_dir
        self._llama_kwargs = llama_kwargs
        self.progress = progress
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-llama")
        self._load_lock = asyncio.Lock()
        self._llama: Any = None
        self._closed = False
        self.path: Path | None = None

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    async def load(self, *, allow_download: bool = False) -> Any:
        """Resolve (downloading it only when allowed) and load the model once; later calls
        return it at once. Raises NoModelAvailable saying what to set when it cannot."""
        async with self._load_lock:
            if self._llama is not None:
                return self._llama
            if self._closed:
                raise ModelError("the local model was closed")
            path = await resolve_model_file(
                self.spec,
                self._models_dir,
                setting=self.setting,
                allow_download=allow_download,
                progress=self.progress,
            )
            loop = asyncio.get_running_loop()
            self._llama = await loop.run_in_executor(self._executor, self._construct, path)
            self.path = path
            return self._llama

    def _construct(self, path: Path) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - a broken install
            raise NoModelAvailable(f"llama-cpp-python is not usable here: {exc}") from exc
        route_llama_logs()
        try:
            return Llama(model_path=str(path), verbose=False, **self._llama_kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise NoModelAvailable(
                f"{self.setting}: llama.cpp could not load {path} ({exc}); is it a GGUF model?"
            ) from exc

    async def run(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(llama)`` on the model's thread and return its result (the model is loaded
        first if it is not, without downloading: ``load`` it first for that)."""
        llama = await self.load()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, llama)

    async def stream(self, produce: Callable[[Any, Callable[[str], None], threading.Event], None]):
        """Run ``produce(llama, emit, stop)`` on the model's thread, yielding what it emits.

        When the consumer stops early, ``stop`` is set so generation ends at the next token.
        """
        llama = await self.load()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                produce(llama, emit, stop)
            except BaseException as exc:
                emit(exc)
            else:
                emit(_END)

        future = loop.run_in_executor(self._executor, work)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if not future.done():
                # Let the thread notice the stop flag; the next job queues behind it anyway.
                future.add_done_callback(lambda f: f.exception())
        await future

    async def aclose(self) -> None:
        self._closed = True
        llama, self._llama = self._llama, None
        loop = asyncio.get_running_loop()
        if llama is not None:
            await loop.run_in_executor(self._executor, llama.close)
        await loop.run_in_executor(None, self._executor.shutdown, True)
