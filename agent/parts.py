"""What the Companion needs of each part it assembles: small Protocols, so a part can be any
object of that shape (the real ones: agent.memory.MemoryService, vision.Eyes,
audio.VoiceService; the model routers are agent.llm.fallback.Fallback)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from config import Mode, ServiceStatus, Settings

from .memory.events import MemoryChanged

if TYPE_CHECKING:
    from .llm.chat import ChatModels
    from .llm.vision import VisionModels
    from .threads import ThreadStore
    from .updates import Updates


class MemoryPart(Protocol):
    """Long-term memory, opened in the background."""

    async def start(self) -> None: ...

    def statuses(self) -> tuple[ServiceStatus, ...]:
        """The status pane's memory line (and its embedding models')."""
        ...

    def changes(self) -> AsyncIterator[MemoryChanged]: ...

    async def set_mode(self, mode: Mode) -> None: ...

    async def aclose(self) -> None: ...


class EyesPart(Protocol):
    """Screen capture and its description, used on turns while it is on."""

    on_status: Callable[[Any], None] | None

    @property
    def on(self) -> bool: ...

    def service_status(self) -> ServiceStatus: ...

    async def aclose(self) -> None: ...


class EarsPart(Protocol):
    """Hearing: the speech recognisers and the microphone (agent.ears.Ears)."""

    on_status: Callable[[Any], None] | None

    def statuses(self) -> tuple[ServiceStatus, ...]: ...

    def recheck(self) -> None:
        """Probe a recogniser server known to be down (see Fallback.recheck)."""
        ...

    async def set_mode(self, mode: Mode) -> None: ...

    async def aclose(self) -> None: ...


class VoicePart(Protocol):
    """The voice: speaks replies (see agent.speech.TurnSpeech), or is off saying why."""

    on_status: Callable[[Any], None] | None

    @property
    def off_reason(self) -> str | None: ...

    def service_status(self) -> ServiceStatus: ...

    def begin_reply(self, **options: Any) -> Any: ...

    def set_mode(self, mode: Mode) -> None: ...

    def stop(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything a Companion runs on, built before it (see ``Companion.create``)."""

    settings: Settings
    threads: ThreadStore
    graph: Any
    chat: ChatModels
    vision: VisionModels | None
    eyes: EyesPart | None
    voice: VoicePart | None
    ears: EarsPart | None
    memory: MemoryPart | None
    updates: Updates
    close_store: Any
    """Closes the thread store's connections (an aiosqlite thread would keep the process
    alive)."""
