"""Model errors, normalised so every caller can tell the user what went wrong and what to do."""

from __future__ import annotations


class ModelError(Exception):
    """A model could not answer. ``reason`` is a sentence a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModelUnavailable(ModelError):
    """The server cannot be reached, timed out, failed (5xx) or cut the stream."""


class RateLimited(ModelUnavailable):
    """The server keeps answering 429 Too Many Requests."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class RequestRejected(ModelError):
    """The server refused the request (4xx other than 429): a setting or the request is wrong."""

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


class BadResponse(ModelError):
    """The server answered with something that is not what the protocol promises."""


class StructuredOutputError(BadResponse):
    """A JSON answer that does not parse or does not match its schema."""


class NoModelAvailable(ModelError):
    """No model can answer at all; ``reason`` says exactly what to set."""
