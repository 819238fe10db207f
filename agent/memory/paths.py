"""Where the memory store lives on disk (all under ``data_dir/memory``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS); leave some room.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class StorePaths:
    """The files of one memory store."""

    root: Path

    @property
    def qdrant(self) -> Path:
        """Qdrant local's directory (collections ``fresh`` and ``old``)."""
        return self.root / "qdrant"

    @property
    def history(self) -> Path:
        """mem0's change history."""
        return self.root / "history.sqlite"

    @property
    def vocabulary(self) -> Path:
        return self.root / "vocabulary.sqlite"

    @property
    def meta(self) -> Path:
        """Which embedding model built the store, and its vector size."""
        return self.root / "store.json"

    @property
    def reindex_backup(self) -> Path:
        """Every memory while a reindex runs; present only when one was interrupted."""
        return self.root / "reindex.jsonl"

    @property
    def mem0_home(self) -> Path:
        """mem0's own config directory (MEM0_DIR), kept out of the user's home."""
        return self.root / "mem0"

    @property
    def owner_lock(self) -> Path:
        """Held (flock) by the one process that opens the store; others talk to it."""
        return self.root / "owner.lock"

    @property
    def socket(self) -> Path:
        """Where the owning process serves the others (a Unix socket)."""
        path = self.root / "owner.sock"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(os.fsencode(self.root.resolve())).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"termmate-{os.getuid()}-{digest}.sock"

    def ensure(self) -> None:
        """Create the directory, readable by this user only."""
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # e.g. a file system without permissions
            self.root.chmod(0o700)


def scope_of(user_id: str) -> str:
    """The user's scope inside mem0 (which refuses whitespace in ids): an injective encoding."""
    return quote(user_id, safe="")
