"""Sight's model: the remote VLM or the local one, by the one policy (fallback.py).

``vision_models`` builds the Fallback; ``SightModel`` is what the Companion hands to
``vision.Eyes``: it satisfies ``vision.VisionModel`` and turns every ModelError into the vision
errors Eyes understands. Offline mode never builds the remote client, so sight opens no
connection at all.
"""

from __future__ import annotations

from collections.abc import Callable

from config import Settings
from vision import DescriptionFailed, NoVisionModel

from .downloads import Downloads
from .errors import ModelError, NoModelAvailable
from .fallback import Fallback, ModelKind
from .types import BackendName
from .vision_local import LocalVision
from .vision_remote import RemoteVision

VISION = ModelKind("vision model", "TERMMATE_VLM__URL", "TERMMATE_LOCAL__VISION_MODEL")

VisionModels = Fallback[RemoteVision, LocalVision]


def vision_models(
    settings: Settings,
    *,
    downloads: Downloads | None = None,
    on_change: Callable[[], None] | None = None,
) -> VisionModels:
    """The vision models of ``settings``: ``[vlm]`` remotely, ``local.vision_model`` here."""
    downloads = downloads or Downloads()
    vlm, max_tokens = settings.vlm, settings.vision.description_max_tokens
    return Fallback(
        VISION,
        mode=settings.mode,
        make_remote=(lambda: RemoteVision(vlm, max_tokens=max_tokens)) if vlm.configured else None,
        local=LocalVision(
            settings.local,
            settings.models_dir,
            max_tokens=max_tokens,
            progress=downloads.progress_for(VISION.noun),
        ),
        retry_remote_after_s=vlm.retry_remote_after_s,
        downloads=downloads,
        on_change=on_change,
    )


class SightModel:
    """The vision models as ``vision.VisionModel``: describe a JPEG, or raise a vision error."""

    def __init__(self, models: VisionModels) -> None:
        self.models = models
        self.last_backend: BackendName | None = None
        """Which backend wrote the last description."""

    @property
    def label(self) -> str:
        """The model that describes next (with the fallback reason, when falling back)."""
        return self.models.label

    async def describe(self, jpeg: bytes, prompt: str) -> str:
        """Raises NoVisionModel (nothing can describe: what to set) or DescriptionFailed."""
        try:
            text, choice = await self.models.call(lambda model: model.describe(jpeg, prompt))
        except NoModelAvailable as exc:
            raise NoVisionModel(exc.reason) from exc
        except ModelError as exc:
            raise DescriptionFailed(f"the vision model failed: {exc.reason}") from exc
        self.last_backend = "remote" if choice.remote else "local"
        return text
