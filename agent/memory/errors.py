"""Memory errors, each with a sentence the user can act on (and a name that crosses processes)."""

from __future__ import annotations


class MemoryStoreError(Exception):
    """Base of every memory error. ``reason`` says what went wrong and what to do."""

    user_error = False
    """True when the caller asked for something impossible (an unknown id, bad input)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MemoryUnavailable(MemoryStoreError):
    """Memory cannot do this now: no embedding model, the store is busy or broken."""


class VectorSizeMismatch(MemoryUnavailable):
    """The store was built with embeddings of another size than the model gives now."""


class MemoryNotFound(MemoryStoreError):
    """No memory of this user has that id."""

    user_error = True


class InvalidMemoryInput(MemoryStoreError):
    """Text, category, file or id that cannot be used as given."""

    user_error = True


class ReadBeforeWriteError(MemoryStoreError):
    """An update or delete of a memory that no search of this caller has returned."""


ERROR_TYPES: dict[str, type[MemoryStoreError]] = {
    cls.__name__: cls
    for cls in (
        MemoryStoreError,
        MemoryUnavailable,
        VectorSizeMismatch,
        MemoryNotFound,
        InvalidMemoryInput,
        ReadBeforeWriteError,
    )
}
"""Error classes by name, so an error raised in the owning process is re-raised in the caller."""
