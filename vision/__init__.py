"""Sight: screen capture, change detection and the screen description.

Layer 2: imports ``config`` only, never ``agent`` or Textual. The vision-language model comes in
as any object with the ``VisionModel`` shape. The usual entry point is ``Eyes.look()``.
"""

from .capture import Frame, Grabber, ScreenCapture, Snapshot, display_problem
from .change import Signature, signature_of
from .describe import DESCRIBE_PROMPT, VisionModel, get_visual_description
from .errors import (
    DescriptionFailed,
    DescriptionTimedOut,
    NoVisionModel,
    ScreenUnavailable,
    VisionError,
)
from .eyes import Eyes, Sight, SightTimings
from .frame import encode_jpeg, jpeg_data_uri, scaled_size
from .picture import BadPicture, prepare_picture

__all__ = [
    "DESCRIBE_PROMPT",
    "BadPicture",
    "DescriptionFailed",
    "DescriptionTimedOut",
    "Eyes",
    "Frame",
    "Grabber",
    "NoVisionModel",
    "ScreenCapture",
    "ScreenUnavailable",
    "Sight",
    "SightTimings",
    "Signature",
    "Snapshot",
    "VisionError",
    "VisionModel",
    "display_problem",
    "encode_jpeg",
    "get_visual_description",
    "jpeg_data_uri",
    "prepare_picture",
    "scaled_size",
    "signature_of",
]
