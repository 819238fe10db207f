"""termmate's widgets."""

from .chat import AssistantMessage, ChatPane, Notice, UserMessage
from .status import StatusPane, render_status

__all__ = ["AssistantMessage", "ChatPane", "Notice", "StatusPane", "UserMessage", "render_status"]
