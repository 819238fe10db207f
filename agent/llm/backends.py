"""What a model backend offers the one remote→local policy (fallback.py): a small seam every
remote and local model implements, whatever it serves (chat, sight, embeddings, hearing)."""

from __future__ import annotations

from typing import Protocol


class Backend(Protocol):
    """What every model backend has."""

    @property
    def label(self) -> str:
        """What to show as the model: a model name or a GGUF file name."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and model memory."""
        ...


class RemoteBackend(Backend, Protocol):
    """A model on a server."""

    @property
    def url(self) -> str:
        """The server's base URL, fit to show (no credentials)."""
        ...

    async def probe(self) -> None:
        """One cheap request (no retries); raises ModelError when the server is not usable."""
        ...


class LocalBackend(Backend, Protocol):
    """A model in this process, loaded (and maybe downloaded) on first use."""

    @property
    def configured(self) -> bool:
        """Whether a model is set at all."""
        ...

    @property
    def loaded(self) -> bool: ...

    async def prepare(self, *, allow_download: bool) -> None:
        """Load the model now if it is not loaded (downloading it only when allowed); raises
        NoModelAvailable saying what to set when it cannot. Cheap once loaded."""
        ...
