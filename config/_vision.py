"""Settings for sight: screen capture and the vision-language model."""

from __future__ import annotations

from pydantic import Field, field_validator

from ._endpoints import EndpointSettings, SectionModel


class VLMSettings(EndpointSettings):
    """The remote vision-language model (OpenAI-compatible, e.g. vLLM serving Qwen2.5-VL)."""

    max_retries: int = Field(1, ge=0, le=10)
    """Retries on connection errors, 5xx and 429. Few: a turn waits for sight only
    vision.timeout_s seconds."""


class VisionSettings(SectionModel):
    """Screen capture. Nothing is captured unless the eyes are on."""

    enabled: bool = False
    """Start with the eyes on (Ctrl+E toggles them)."""
    monitor: int = Field(1, ge=0)
    """Monitor to capture, numbered as mss does: 1 the first (the primary on most set-ups),
    2 the second, ..., 0 all monitors together."""
    region: str | None = None
    """Capture only part of the monitor: "x,y,width,height" in pixels from the monitor's
    top-left corner, e.g. "0,0,1280,720". Unset: the whole monitor."""
    max_side: int = Field(1280, ge=64)
    """Longest side of the frame sent to the model, in pixels."""
    jpeg_quality: int = Field(80, ge=1, le=95)
    """JPEG quality of the frame sent to the model."""
    change_threshold: float = Field(0.005, ge=0, le=1)
    """Fraction of the screen that must change before it is described again; below it the
    last description is reused and the model is not asked. 0: any visible change counts."""
    description_max_tokens: int = Field(200, ge=16, le=4096)
    """Longest screen description the model may write, in tokens."""
    max_description_chars: int = Field(1200, ge=80, le=100_000)
    """Longest screen description that goes into the prompt, in characters; a longer one is
    cut and ends in "…". The model is asked for two or three sentences within
    description_max_tokens, but a server may ignore max_tokens."""
    timeout_s: float = Field(8.0, gt=0)
    """Longest a turn waits for the screen description before going on without it."""
    watch_interval_s: float = Field(10.0, ge=1)
    """In watch mode, seconds between looks at the screen."""
    watch_min_gap_s: float = Field(60.0, ge=0)
    """In watch mode, the companion speaks up at most once per this many seconds."""

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = [part.strip() for part in value.split(",")]
        try:
            x, y, width, height = (int(part) for part in parts)
        except ValueError:
            raise ValueError(
                'expected "x,y,width,height" in whole pixels, e.g. "0,0,1280,720"'
            ) from None
        if x < 0 or y < 0 or width <= 0 or height <= 0:
            raise ValueError("x and y must be 0 or more, width and height more than 0")
        return f"{x},{y},{width},{height}"

    @property
    def region_box(self) -> tuple[int, int, int, int] | None:
        """The region as (x, y, width, height), or None for the whole monitor."""
        if self.region is None:
            return None
        x, y, width, height = (int(part) for part in self.region.split(","))
        return x, y, width, height
