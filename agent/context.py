"""What the graph's nodes need, handed to every run as LangGraph's runtime context."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config import Settings

from .llm.chat import ChatModels

if TYPE_CHECKING:
    from vision import Eyes

    from .memory.service import MemoryService
    from .speech import TurnSpeech


@dataclass(frozen=True, slots=True)
class TurnContext:
    """The services a turn uses. Built once by the Companion; each run gets a copy with its
    own ``speech``."""

    settings: Settings
    router: ChatModels
    """The chat models (remote, local, the policy between them)."""
    memory: MemoryService | None = None
    """Long-term memory; None when it is switched off."""
    eyes: Eyes | None = None
    """Screen capture and description; used only on turns with the eyes on."""
    speech: TurnSpeech | None = None
    """This turn's voice, when the reply is spoken (set per run by the Companion)."""
    after_reply: Callable[[Coroutine[Any, Any, None]], None] | None = None
    """Queues work to run after the turn without holding its thread (None: run it inline)."""
