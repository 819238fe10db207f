"""termmate's widgets."""

from .chat import AssistantMessage, ChatPane, Notice, UserMessage
from .input import ChatInput
from .status import StatusPane, render_status

__all__ = [
    "AssistantMessage",
    "ChatInput",
    "ChatPane",
    "Notice",
    "StatusPane",
    "UserMessage",
    "render_status",
]
