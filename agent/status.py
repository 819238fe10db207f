"""A snapshot of what the companion is connected to, for the status pane and `--json` output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from config import ServiceState, ServiceStatus

if TYPE_CHECKING:
    from .llm.chat import ChatModels

__all__ = [
    "AnsweringModel",
    "CompanionStatus",
    "ServiceState",
    "ServiceStatus",
    "answering_model",
]


@dataclass(frozen=True, slots=True)
class AnsweringModel:
    """The model the next turn goes to."""

    backend: Literal["remote", "local"]
    model: str
    url: str | None = None
    last_latency_ms: float | None = None
    fallback_reason: str | None = None


@dataclass(frozen=True, slots=True)
class CompanionStatus:
    """Mode, answering model and every service's state."""

    mode: str
    answering: AnsweringModel
    services: tuple[ServiceStatus, ...]

    def service(self, name: str) -> ServiceStatus | None:
        return next((s for s in self.services if s.name == name), None)


def answering_model(chat: ChatModels) -> AnsweringModel:
    """The chat model the next turn goes to, for the status pane."""
    if chat.answering() == "remote":
        assert chat.remote is not None
        remote = chat.remote
        return AnsweringModel("remote", remote.label, remote.url, chat.remote_health.latency_ms)
    return AnsweringModel(
        "local", chat.local.label, None, chat.local_latency_ms, chat.fallback_reason
    )
