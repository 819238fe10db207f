"""Where the memory store lives on disk (all under ``data_dir/memory``)."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from config import private_dir

from .errors import MemoryUnavailable

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
    def legacy_history_files(self) -> tuple[Path, ...]:
        """mem0's change history as earlier versions kept it (with its SQLite side files).
        It holds the texts of forgotten memories, so opening the store deletes it."""
        history = self.root / "history.sqlite"
        sides = ("-wal", "-shm", "-journal")
        return (history, *(history.with_name(history.name + side) for side in sides))

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
        """Where the owning process serves the others (a Unix socket).

        ``owner.sock`` in the store's directory, unless that path is too long for a socket;
        then a name derived from the store's path in a private directory of ours (see
        private_socket_dir), checked each time. Raises MemoryUnavailable when it is not private.
        """
        path = self.root / "owner.sock"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(os.fsencode(self.root.resolve())).hexdigest()[:16]
        return private_socket_dir() / f"{digest}.sock"

    def ensure(self) -> None:
        """Create the directory, readable by this user only."""
        private_dir(self.root)


def private_socket_dir() -> Path:
    """A directory for sockets that only this user can reach: ``$XDG_RUNTIME_DIR/termmate``,
    or ``termmate-UID`` in the temp dir. Created 0700 when missing; checked (lstat) on every
    call, since in a shared temp dir another user can create that name first, or a link there.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime) and os.path.isdir(runtime):
        path = Path(runtime) / "termmate"
    else:
        path = Path(tempfile.gettempdir()) / f"termmate-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass  # checked below, like one made just now
    except OSError as exc:
        raise MemoryUnavailable(
            f"cannot create {path} for the memory socket ({exc.strerror}); set "
            "TERMMATE_DATA_DIR to a shorter path, so the socket fits in the data dir"
        ) from None
    _check_private(path)
    return path


def _check_private(path: Path) -> None:
    """Raise MemoryUnavailable unless ``path`` is a real directory of ours, closed to others."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise MemoryUnavailable(f"cannot check {path} ({exc.strerror})") from None
    uid = os.getuid()
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != uid:
        problem = f"belongs to user id {info.st_uid}, not to you ({uid})"
    elif info.st_mode & 0o077:
        problem = f"is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
    else:
        return
    raise MemoryUnavailable(
        f"the memory socket's directory {path} {problem}, so another user could answer in "
        "termmate's place; termmate will not use it. Remove it (termmate creates it again, "
        "private), or set TERMMATE_DATA_DIR to a shorter path"
    )


def scope_of(user_id: str) -> str:
    """The user's scope inside mem0 (which refuses whitespace in ids): an injective encoding."""
    return quote(user_id, safe="")
