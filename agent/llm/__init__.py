"""Models: remote (OpenAI-compatible over HTTP) and local (llama.cpp) backends for chat, sight
and embeddings, and the one remote/local policy over each pair (fallback.py)."""

from .errors import (
    BadResponse,
    ModelError,
    ModelUnavailable,
    NoModelAvailable,
    RateLimited,
    RequestRejected,
    StructuredOutputError,
)
from .types import ChatMessage, ChatRequest, DownloadProgress, JsonSchema, ModelRouted, Token

__all__ = [
    "BadResponse",
    "ChatMessage",
    "ChatRequest",
    "DownloadProgress",
    "JsonSchema",
    "ModelError",
    "ModelRouted",
    "ModelUnavailable",
    "NoModelAvailable",
    "RateLimited",
    "RequestRejected",
    "StructuredOutputError",
    "Token",
]
