"""Settings for sight: screen capture and the vision-language model."""

from __future__ import annotations

from pydantic import Field

from ._endpoints import EndpointSettings, SectionModel


class VLMSettings(EndpointSettings):
    """The remote vision-language model (OpenAI-compatible, e.g. vLLM serving Qwen2.5-VL)."""


class VisionSettings(SectionModel):
    """Screen capture. Nothing is captured unless the eyes are on."""

    enabled: bool = False
    """Start with the eyes on (Ctrl+E toggles them)."""
    monitor: int = Field(1, ge=0)
    """Monitor to capture: 1 is the primary, 0 all monitors together."""
    max_side: int = Field(1280, ge=64)
    """Longest side of the frame sent to the model, in pixels."""
    jpeg_quality: int = Field(80, ge=1, le=95)
    """JPEG quality of the frame sent to the model."""
    timeout_s: float = Field(8.0, gt=0)
    """Longest a turn waits for the screen description before going on without it."""
    watch_interval_s: float = Field(10.0, ge=1)
    """In watch mode, seconds between looks at the screen."""
    watch_min_gap_s: float = Field(60.0, ge=0)
    """In watch mode, the companion speaks up at most once per this many seconds."""
