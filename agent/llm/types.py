"""The small vocabulary shared by the model backends, their Fallback and the chat stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

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


@dataclass(frozen=True, slots=True)
class ModelRouted:
    """Which model answers. With ``restarted``, drop the text shown so far: an earlier backend
    failed mid-answer and a new answer follows."""

    backend: BackendName
    model: str
    fallback_reason: str | None = None
    restarted: bool = False


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of the answer."""

    text: str


ChatEvent = ModelRouted | Token
