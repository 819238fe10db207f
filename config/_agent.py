"""Settings for the companion's behaviour."""

from __future__ import annotations

from pydantic import Field

from ._endpoints import SectionModel

DEFAULT_PERSONA = (
    "You are termmate, a friendly companion who lives in the user's terminal. "
    "Answer briefly and warmly, in the language the user writes in (Korean or English). "
    "Use Markdown only when it helps, such as for code."
)


class AgentSettings(SectionModel):
    """How the companion talks."""

    system_prompt: str = DEFAULT_PERSONA
    """The companion's persona and standing instructions."""
    max_history_messages: int = Field(40, ge=2)
    """How many recent messages of the conversation go into each prompt."""
    max_history_chars: int = Field(16000, ge=1000)
    """Character budget for past messages in a prompt; the oldest are left out first."""
    max_message_chars: int = Field(20000, ge=100)
    """Longest message a user may send (longer ones are refused with a clear error)."""
    max_reply_tokens: int = Field(1024, gt=0)
    """Longest reply, in tokens, whichever model answers."""
    temperature: float = Field(0.7, ge=0, le=2)
    """Sampling temperature for replies."""
