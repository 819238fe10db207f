"""Model backends: remote (OpenAI-compatible over HTTP), local (llama.cpp), and the router."""

from .errors import (
    BadResponse,
    ModelError,
    ModelUnavailable,
    NoModelAvailable,
    RateLimited,
    RequestRejected,
    StructuredOutputError,
)
from .types import ChatMessage, ChatRequest, DownloadProgress, JsonSchema, Routed, Token

__all__ = [
    "BadResponse",
    "ChatMessage",
    "ChatRequest",
    "DownloadProgress",
    "JsonSchema",
    "ModelError",
    "ModelUnavailable",
    "NoModelAvailable",
    "RateLimited",
    "RequestRejected",
    "Routed",
    "StructuredOutputError",
    "Token",
]
