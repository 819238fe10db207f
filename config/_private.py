"""termmate's files are its user's alone: folders 0700, files 0600.

Conversations, memories, logs and voice recordings are private, and on a shared machine the
usual umask (022) would leave them readable by everyone. Two tools keep them private:
``private_umask()`` makes everything the process creates from then on private (SQLite and its
WAL, the log, Qdrant's files, exports), and ``private_dir()`` creates termmate's own folders
0700 and tightens one that already exists.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

PRIVATE_UMASK = 0o077
"""Group and others get no permission on anything termmate creates."""

PRIVATE_DIR_MODE = 0o700


def private_umask() -> int:
    """Make every file and folder this process creates from now on private to its user.

    Sets the process umask to 0o077 (new files 0600, new folders 0700, whatever mode the
    library creating them asks for) and returns the previous umask. The ``termmate`` command
    calls it first thing, before any file is opened.
    """
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create the folder ``path`` (and any missing parents) with mode 0700; returns ``path``.

    With ``tighten`` (the default), a folder that already exists is set to 0700 too: use it for
    termmate's own folders (the data dir, ``logs/``, ``models/``, ``voices/``, ``memory/``,
    ``locks/``). Pass ``tighten=False`` for a folder the user shares with other programs (the
    settings file's folder), whose existing mode is theirs to choose. Raises OSError when the
    folder cannot be created (NotADirectoryError when a file has its name).
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        # Created one at a time so each new parent gets 0700, not the umask's default.
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    if not path.is_dir():  # a file in the way: never chmod it, say what is wrong
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if tighten or missing:
        with contextlib.suppress(OSError):  # e.g. a file system without permissions, or not ours
            if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
                path.chmod(PRIVATE_DIR_MODE)
    return path
