"""Why the eyes could not see: each error carries a reason a user can act on."""

from __future__ import annotations


class VisionError(Exception):
    """Sight failed. ``reason`` says why; ``status`` is the line for the status pane."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def status(self) -> str:
        return f"eyes: {self.reason}"


class ScreenUnavailable(VisionError):
    """The screen cannot be captured: no display, Wayland without XWayland, capture refused."""

    @property
    def status(self) -> str:
        return f"eyes: unavailable ({self.reason})"


class DescriptionFailed(VisionError):
    """The vision model could not describe the frame (unreachable, refused, bad answer)."""


class DescriptionTimedOut(DescriptionFailed):
    """The vision model did not answer within ``vision.timeout_s``; the turn goes on without it.

    The description keeps coming in the background and is reused while the screen stays put.
    """

    @property
    def status(self) -> str:
        return f"eyes: {self.reason}; answering without sight"


class NoVisionModel(DescriptionFailed):
    """No vision model is configured for the current mode; ``reason`` names what to set."""
