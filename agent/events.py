"""What a turn tells its front end: typed, immutable events.

Front ends (the TUI, ``termmate ask``) render these; the core never calls into a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from audio import SentenceAudio, SentenceSpeaking, SpeechFailed, SpeechFinished, SpeechStarted

from .llm.types import ModelRouted
from .memory.events import MemoryChanged
from .status import CompanionStatus

__all__ = [
    "MemoryChanged",
    "MemoryOutcome",
    "MemorySearched",
    "ModelDownload",
    "ModelRouted",
    "Perceived",
    "PerceptionFailed",
    "PlanDecided",
    "SentenceAudio",
    "SentenceReady",
    "SentenceSpeaking",
    "SpeechDone",
    "SpeechFailed",
    "SpeechFinished",
    "SpeechStarted",
    "StatusChanged",
    "TextDelta",
    "TurnEvent",
    "TurnFailed",
    "TurnFinished",
    "TurnStarted",
    "TurnTimings",
]


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """A turn began on ``thread_id``; ``text`` is the user's message (None when unprompted)."""

    thread_id: str
    text: str | None


@dataclass(frozen=True, slots=True)
class PlanDecided:
    """reason_and_plan decided whether and how to answer."""

    action: Literal["respond", "silence"]
    reason: str
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Perceived:
    """perceive_environment looked at the screen (``reused``: it had not changed)."""

    description: str
    reused: bool
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class PerceptionFailed:
    """The eyes could not see this turn; ``status`` is the status pane's line. The turn goes on."""

    status: str


MemoryOutcome = Literal["searched", "not ready", "off", "failed"]
"""How Search-Before-Act went for a turn: memory was searched; the store was still opening when
``memory.search_timeout_s`` ran out; memory is switched off (or there was nothing to search
with); or the search failed (the log says why)."""


@dataclass(frozen=True, slots=True)
class MemorySearched:
    """query_memory searched long-term memory before the turn reasoned (or could not)."""

    outcome: MemoryOutcome
    hits: int = 0
    elapsed_ms: float = 0.0
    reason: str | None = None
    """Why memory was not searched ("not ready", "failed"), in words a user can act on."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class SentenceReady:
    """A sentence of the reply is complete and goes to the voice (cleaned of Markdown)."""

    text: str


@dataclass(frozen=True, slots=True)
class SpeechDone:
    """The reply has been spoken (only for turns that asked to wait for it).

    ``result`` is audio.SpeechResult (None when nothing was said): what was spoken, the first
    audio time, the error if any, and the whole reply as one WAV when it was asked for.
    """

    result: Any


@dataclass(frozen=True, slots=True)
class ModelDownload:
    """A model file is being downloaded (``total`` None when unknown)."""

    name: str
    done: int
    total: int | None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Something shown in the status pane changed."""

    status: CompanionStatus


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """How long the turn took, from the moment it was asked for."""

    first_token_ms: float | None
    total_ms: float
    plan_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The reply is complete (or was stopped, with ``stopped``) and saved."""

    thread_id: str
    text: str
    action: Literal["respond", "silence"]
    backend: Literal["remote", "local"] | None
    model: str | None
    fallback_reason: str | None
    timings: TurnTimings
    stopped: bool = False
    memory: MemoryOutcome = "off"
    """How Search-Before-Act went (see MemoryOutcome)."""


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The turn could not be answered. ``kind``: "no_model" when nothing can answer at all,
    "model" when the model failed, "data" when the conversation's saved state cannot be read,
    "unavailable" when the shared database cannot be reached (the next turn may work),
    "internal" for anything else."""

    thread_id: str
    message: str
    kind: Literal["no_model", "model", "data", "unavailable", "internal"] = "model"
    details: dict[str, str] = field(default_factory=dict)


TurnEvent = (
    TurnStarted
    | Perceived
    | PerceptionFailed
    | MemorySearched
    | PlanDecided
    | ModelRouted
    | TextDelta
    | SentenceReady
    | SpeechStarted
    | SentenceSpeaking
    | SentenceAudio
    | SpeechFailed
    | SpeechFinished
    | SpeechDone
    | ModelDownload
    | StatusChanged
    | TurnFinished
    | TurnFailed
)
