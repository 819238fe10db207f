"""Turn a frame into words with whatever vision model the caller hands in.

``vision`` never imports ``agent``: the model is any object with the ``VisionModel`` shape
(agent.llm.vision.VisionRouter in the app).
"""

from __future__ import annotations

import logging
from typing import Protocol

from .errors import DescriptionFailed, VisionError

log = logging.getLogger(__name__)

DESCRIBE_PROMPT = (
    "This is a screenshot of the user's screen. In two or three short sentences, say what the "
    "user is doing (which program, what is open or being worked on) and anything that stands "
    "out, such as an error message, a warning, a dialog or a notification. Describe only what "
    "is visible; quote short on-screen text exactly where it matters."
)
"""What the vision model is asked about every frame."""

PICTURE_PROMPT = (
    "This is a picture the user shared with you. In two or three short sentences, say what it "
    "shows; quote short text in it exactly where it matters."
)
"""What the vision model is asked about a picture a front end sent with a message."""


class VisionModel(Protocol):
    """A vision-language model that can describe a JPEG image."""

    @property
    def label(self) -> str:
        """The model to show as "the eyes' model", e.g. a model name or a GGUF file name."""
        ...

    async def describe(self, jpeg: bytes, prompt: str) -> str:
        """Answer ``prompt`` about the image.

        Raises DescriptionFailed (NoVisionModel when none is configured) with a reason a user
        can act on.
        """
        ...


async def get_visual_description(
    image: bytes,
    model: VisionModel,
    prompt: str = DESCRIBE_PROMPT,
    *,
    max_chars: int | None = None,
) -> str:
    """A short description of what the JPEG ``image`` shows the user doing.

    A description longer than ``max_chars`` is cut (see ``shorten``): a model that ignores its
    token limit must not flood the prompt. Raises DescriptionFailed when the model fails or
    answers with nothing.
    """
    if not image.startswith(b"\xff\xd8"):
        raise ValueError("expected JPEG bytes (they start with FF D8)")
    try:
        text = await model.describe(image, prompt)
    except VisionError:
        raise
    except Exception as exc:
        # A model that does not translate its own errors: keep its reason, never crash a turn.
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        log.warning("vision model %s failed: %s", model.label, reason, exc_info=True)
        raise DescriptionFailed(f"the vision model failed: {reason}") from exc
    description = text.strip()
    if not description:
        raise DescriptionFailed(f"the vision model ({model.label}) answered with no description")
    if max_chars is not None and len(description) > max_chars:
        log.info(
            "vision model %s wrote %d characters; keeping %d",
            model.label,
            len(description),
            max_chars,
        )
        description = shorten(description, max_chars)
    return description


def shorten(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its start ending in "…".

    The cut falls after the last whole word when that keeps most of the room; a text with
    no space near the limit is cut mid-word.
    """
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - 1]  # room for the "…"
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= len(head) * 3 // 4:
        head = head[:space]
    return head.rstrip() + "…"
