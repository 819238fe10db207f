"""The small vocabulary shared by the chat backends and the router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict

from config import redact_url

BackendName = Literal["remote", "local"]


class ChatMessage(TypedDict):
    """One message of a chat prompt, in the OpenAI shape."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """A JSON schema the answer must satisfy (``name`` is what OpenAI's API asks for)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What to ask a chat model."""

    messages: list[ChatMessage]
    max_tokens: int = 1024
    temperature: float = 0.7
    json_schema: JsonSchema | None = None


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Bytes of a model file downloaded so far (``total`` is None when the server does not say)."""

    name: str
    done: int
    total: int | None


ProgressCallback = Callable[[DownloadProgress], None]


class ChatBackend(Protocol):
    """A chat model that streams text."""

    name: BackendName

    @property
    def model_label(self) -> str:
        """What to show as "the model": a model name or a GGUF file name."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        """Yield the answer's text as it is generated."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and model memory."""
        ...


@dataclass(frozen=True, slots=True)
class Routed:
    """The router chose a backend for this call (again, with ``restarted``, after a failure)."""

    backend: BackendName
    model: str
    fallback_reason: str | None = None
    restarted: bool = False
    """True when an earlier backend failed mid-answer: discard the text received so far."""


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of the answer."""

    text: str


RouterEvent = Routed | Token


@dataclass(frozen=True, slots=True)
class RemoteHealth:
    """What the router last learnt about the remote server."""

    state: Literal["ok", "unreachable", "not_configured", "unknown", "disabled"]
    reason: str | None = None
    url: str | None = None
    """The server's URL as the status pane shows it: never with a password or token."""
    model: str | None = None
    last_latency_ms: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.url is not None:
            object.__setattr__(self, "url", redact_url(self.url))  # (frozen)
