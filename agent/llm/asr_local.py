"""The local speech recogniser: faster-whisper (CTranslate2) in this process.

faster_whisper is imported when the model is first loaded, so nothing pays for it unless the
local recogniser answers. The model lives on a thread of its own ("termmate-whisper"): loading
and every transcription run there, one at a time, off the event loop.

``local.asr_model`` is a model folder or ``hf:OWNER/REPO`` (downloaded once, model_repos.py).
Nothing else is fetched at run time: the folder must hold its ``tokenizer.json``, without which
faster-whisper would download one from the hub.

Language: a fixed one is used as it is. Otherwise Whisper detects it, and when its choice is
not among ``asr.languages`` the likeliest of those is used instead: one more decoding pass, but
only then (a model that hears Korean and English as Croatian is the exception).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from config import LocalSettings

from .asr_audio import Heard, SpeechAudio
from .errors import ModelError, NoModelAvailable
from .model_files import display_name
from .model_repos import resolve_model_folder
from .types import ProgressCallback

log = logging.getLogger(__name__)

SETTING = "local.asr_model"
ENV = "TERMMATE_LOCAL__ASR_MODEL"

TRANSCRIBE_OPTIONS: dict[str, Any] = {
    "beam_size": 5,
    # An utterance is short and stands alone: earlier text as a prompt only invites loops.
    "condition_on_previous_text": False,
    "without_timestamps": True,
    "vad_filter": False,  # the microphone's VAD already cut the utterance
}
"""What every local transcription asks of faster-whisper (the benchmark's raw baseline too)."""


class LocalRecogniser:
    """``local.asr_model`` in this process: a fallback.LocalBackend."""

    def __init__(
        self,
        settings: LocalSettings,
        models_dir: Path,
        *,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.spec = settings.asr_model
        self.progress = progress
        self._models_dir = models_dir
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-whisper")
        self._load_lock = asyncio.Lock()
        self._model: Any = None
        self._closed = False
        self.device: str | None = None
        """Where the loaded model runs ("cpu" or "cuda")."""

    @property
    def label(self) -> str:
        return display_name(self.spec)

    @property
    def configured(self) -> bool:
        return bool(self.spec)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    async def prepare(self, *, allow_download: bool) -> None:
        """Find the model folder (downloading it only when allowed) and load it once."""
        async with self._load_lock:
            if self._model is not None:
                return
            if self._closed:
                raise ModelError("the local speech recogniser was closed")
            folder = await resolve_model_folder(
                self.spec,
                self._models_dir,
                setting=SETTING,
                allow_download=allow_download,
                progress=self.progress,
                remote_hint="TERMMATE_ASR__URL to a speech recognition server",
            )
            _check_folder(folder)
            loop = asyncio.get_running_loop()
            self._model = await loop.run_in_executor(self._executor, self._load, folder)

    def _load(self, folder: Path) -> Any:
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover - a broken install
            raise NoModelAvailable(f"faster-whisper is not usable here: {exc}") from exc
        device = self.settings.asr_device
        if device == "auto" and ctranslate2.get_cuda_device_count() > 0:
            try:
                return self._load_on(WhisperModel, folder, "cuda")
            except NoModelAvailable as exc:  # a GPU without the CUDA libraries, say
                log.warning("the speech recogniser cannot use the GPU, using the CPU: %s", exc)
        return self._load_on(WhisperModel, folder, "cpu" if device == "auto" else device)

    def _load_on(self, whisper_model: Any, folder: Path, device: str) -> Any:
        compute_type = self.settings.asr_compute_type
        if compute_type == "default":  # CTranslate2's "default" keeps float16 weights on a CPU
            compute_type = "float16" if device == "cuda" else "int8"
        try:
            model = whisper_model(
                str(folder),
                device=device,
                compute_type=compute_type,
                cpu_threads=self.settings.threads or 0,
                local_files_only=True,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise NoModelAvailable(
                f"{SETTING}: faster-whisper could not load {folder} on {device} as "
                f"{compute_type} ({exc}); set {ENV} to a CTranslate2 Whisper model, or "
                "TERMMATE_LOCAL__ASR_DEVICE / TERMMATE_LOCAL__ASR_COMPUTE_TYPE to what this "
                "machine has"
            ) from exc
        self.device = device
        return model

    async def transcribe(
        self, audio: SpeechAudio, *, language: str | None, languages: Sequence[str]
    ) -> Heard:
        """What the model hears in ``audio``: in ``language`` when given, else in the likeliest
        of ``languages``."""
        if self._model is None:
            await self.prepare(allow_download=False)
        model = self._model
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, _recognise, model, audio, language, tuple(languages), stop
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            stop.set()  # the thread stops at the next segment; the next call queues behind it
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    async def aclose(self) -> None:
        self._closed = True
        self._model = None  # CTranslate2 frees the model when the last reference goes
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown, True)


def _check_folder(folder: Path) -> None:
    """Refuse a folder faster-whisper cannot load without reaching for the hub."""
    if not (folder / "model.bin").is_file():
        raise NoModelAvailable(
            f"{SETTING}: {folder} is not a CTranslate2 Whisper model (no model.bin); set {ENV} "
            "to one, e.g. hf:Systran/faster-whisper-small"
        )
    if not (folder / "tokenizer.json").is_file():
        raise NoModelAvailable(
            f"{SETTING}: {folder} has no tokenizer.json, which faster-whisper would download "
            "at run time; put the Whisper model's tokenizer.json in that folder"
        )


def _recognise(
    model: Any,
    audio: SpeechAudio,
    language: str | None,
    languages: tuple[str, ...],
    stop: threading.Event,
) -> Heard:
    """Runs on the recogniser's thread."""
    samples = audio.samples_16k()
    if language is not None and language not in model.supported_languages:
        raise NoModelAvailable(
            f"{SETTING}: this model does not know the language {language!r} "
            f"(it knows {', '.join(model.supported_languages[:8])}, ...)"
        )
    segments, info = model.transcribe(samples, language=language, **TRANSCRIBE_OPTIONS)
    heard = info.language
    if language is None and heard not in languages:
        best = _likeliest(info.all_language_probs or [], languages)
        if best is not None:
            segments, info = model.transcribe(samples, language=best, **TRANSCRIBE_OPTIONS)
            heard = best
    parts: list[str] = []
    for segment in segments:  # decoded lazily, segment by segment
        if stop.is_set():
            break
        parts.append(segment.text)
    return Heard("".join(parts).strip(), heard)


def _likeliest(probabilities: Sequence[tuple[str, float]], languages: Sequence[str]) -> str | None:
    """The most probable of ``languages`` in Whisper's (language, probability) list."""
    allowed = [(p, code) for code, p in probabilities if code in languages]
    return max(allowed)[1] if allowed else None
