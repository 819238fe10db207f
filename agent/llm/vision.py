"""The eyes' model: remote VLM, local VLM, or remote with a local fallback (auto), like chat.

``VisionRouter`` is what the Companion hands to ``vision.Eyes``: it satisfies
``vision.VisionModel`` and turns every ModelError into the vision errors Eyes understands.
Offline mode never builds the remote client, so sight opens no connection at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from config import Mode, Settings
from vision import DescriptionFailed, NoVisionModel

from .errors import ModelError, NoModelAvailable
from .types import BackendName, ProgressCallback
from .vision_local import LocalVision
from .vision_remote import RemoteVision

log = logging.getLogger(__name__)

NOTHING_CONFIGURED = (
    "no vision model configured (set TERMMATE_VLM__URL or TERMMATE_LOCAL__VISION_MODEL)"
)


class VisionRouter:
    """Chooses the vision model the mode allows.

    auto: the remote when configured; after it fails, the local model (when configured)
    describes for ``vlm.retry_remote_after_s`` before the remote is tried again.
    online: the remote only. offline: the local only, and no network at all.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        progress: ProgressCallback | None = None,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._on_change = on_change or (lambda: None)
        self._clock = clock
        self.mode = settings.mode
        self.local = LocalVision(
            settings.local,
            settings.models_dir,
            max_tokens=settings.vision.description_max_tokens,
            allow_download=self.mode is not Mode.OFFLINE,
            progress=progress,
        )
        self.remote: RemoteVision | None = None
        self._remote_down_until: float | None = None
        self._fallback_reason: str | None = None
        self.last_backend: BackendName | None = None
        self._apply_mode()

    # -- state ------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """Whether the current mode has any vision model to ask."""
        remote = self.remote is not None
        local = self.local.configured
        if self.mode is Mode.ONLINE:
            return remote
        if self.mode is Mode.OFFLINE:
            return local
        return remote or local

    @property
    def fallback_reason(self) -> str | None:
        """Why the local model describes in auto mode although a remote is set, or None."""
        return self._fallback_reason

    def answering_backend(self) -> BackendName | None:
        """Which backend the next description comes from (None: nothing configured)."""
        if self._use_remote():
            return "remote"
        if self.mode is not Mode.ONLINE and self.local.configured:
            return "local"
        return None

    @property
    def label(self) -> str:
        """The model that describes next, e.g. "Qwen2.5-VL-7B" or a GGUF file name."""
        backend = self.answering_backend()
        if backend == "remote" and self.remote is not None:
            return self.remote.label
        if backend == "local":
            return self.local.label
        return "(no vision model)"

    async def set_mode(self, mode: Mode) -> None:
        """Switch mode now; offline closes the remote connection pool at once."""
        mode = Mode(mode)
        if mode is self.mode:
            return
        self.mode = mode
        if mode is Mode.OFFLINE and self.remote is not None:
            remote, self.remote = self.remote, None
            await remote.aclose()
        self._remote_down_until = None
        self._fallback_reason = None
        self._apply_mode()
        self._on_change()

    def _apply_mode(self) -> None:
        self.local.allow_download = self.mode is not Mode.OFFLINE
        if self.mode is not Mode.OFFLINE and self.remote is None and self._settings.vlm.configured:
            self.remote = RemoteVision(
                self._settings.vlm, max_tokens=self._settings.vision.description_max_tokens
            )

    def _use_remote(self) -> bool:
        if self.remote is None or self.mode is Mode.OFFLINE:
            return False
        if self.mode is Mode.ONLINE or self._remote_down_until is None:
            return True
        # In auto mode after a failure: the remote again once the pause is over, or at once
        # when there is no local model to describe instead.
        return self._clock() >= self._remote_down_until or not self.local.configured

    # -- describing --------------------------------------------------------------------------

    async def describe(self, jpeg: bytes, prompt: str) -> str:
        """Describe with the model the mode allows. Raises DescriptionFailed / NoVisionModel."""
        if not self.configured:
            raise NoVisionModel(self._not_configured_reason())
        if not self._use_remote():
            return await self._describe_locally(jpeg, prompt, remote_reason=self._fallback_reason)

        assert self.remote is not None
        try:
            text = await self.remote.describe(jpeg, prompt)
        except ModelError as exc:
            if self.mode is Mode.ONLINE or not self.local.configured:
                raise DescriptionFailed(f"the vision model failed: {exc.reason}") from exc
            log.warning("remote VLM failed, describing locally: %s", exc.reason)
            self._remote_down_until = self._clock() + self._settings.vlm.retry_remote_after_s
            self._fallback_reason = exc.reason
            self._on_change()
            return await self._describe_locally(jpeg, prompt, remote_reason=exc.reason)
        self.last_backend = "remote"
        if self._fallback_reason is not None:
            log.info("remote VLM is back")
            self._fallback_reason = None
            self._remote_down_until = None
            self._on_change()
        return text

    async def _describe_locally(self, jpeg: bytes, prompt: str, remote_reason: str | None) -> str:
        try:
            text = await self.local.describe(jpeg, prompt)
        except ModelError as exc:
            reason = exc.reason
            if remote_reason is not None:
                reason = (
                    f"the remote vision model is unavailable ({remote_reason}) and the local "
                    f"one cannot run: {exc.reason}"
                )
            error = NoVisionModel if isinstance(exc, NoModelAvailable) else DescriptionFailed
            raise error(reason) from exc
        self.last_backend = "local"
        return text

    def _not_configured_reason(self) -> str:
        if self.mode is Mode.ONLINE:
            return (
                "online mode needs a remote vision model: set TERMMATE_VLM__URL (an "
                "OpenAI-compatible base URL ending in /v1), or switch to auto or offline mode"
            )
        if self.mode is Mode.OFFLINE:
            return (
                "offline mode describes the screen with a local model: set "
                "TERMMATE_LOCAL__VISION_MODEL and TERMMATE_LOCAL__VISION_MMPROJ"
            )
        return NOTHING_CONFIGURED

    async def aclose(self) -> None:
        if self.remote is not None:
            await self.remote.aclose()
        await self.local.aclose()
