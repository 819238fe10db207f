"""A Fallback's local model alone, for a caller in offline mode while this process is not
(another process asking the memory owner to embed): see fallback.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from config import Mode, ServiceStatus

from .backends import LocalBackend
from .errors import NoModelAvailable
from .fallback import Choice, Fallback

L = TypeVar("L", bound=LocalBackend)
T = TypeVar("T")


class LocalOnly(Generic[L]):
    """A Fallback's local backend for callers in offline mode: it is never downloaded (a model
    already on disk is loaded) and the remote is never used. Calls as a Fallback does; the
    Fallback it comes from owns the model (closing this closes nothing)."""

    def __init__(self, fallback: Fallback[Any, L]) -> None:
        self._fallback = fallback

    @property
    def label(self) -> str:
        return self._fallback.local.label

    async def call(self, operation: Callable[[L], Awaitable[T]]) -> tuple[T, Choice[L]]:
        local = self._fallback.local
        kind = self._fallback.kind
        if not local.configured:
            raise NoModelAvailable(f"offline mode needs a local {kind.noun}: set {kind.local_env}")
        await local.prepare(allow_download=False)
        return await operation(local), Choice(local, False)

    def local_only(self) -> LocalOnly[L]:
        return self

    async def set_mode(self, mode: Mode) -> None:
        """Always offline: nothing to switch."""

    def statuses(self) -> tuple[ServiceStatus, ...]:
        return ()

    async def aclose(self) -> None:
        """The Fallback it comes from owns the model."""
