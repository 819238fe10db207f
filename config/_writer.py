"""Write one setting back to the settings file, keeping the user's comments and layout.

Writers in several termmate processes (the TUI's Ctrl+O, `termmate voice use`) take turns
through a lock file beside the settings, so no read-modify-write loses another's change.
A settings file that is a symbolic link (kept in a dotfiles repository, say) is written
through: its target changes, and the link stays a link.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._loader import SettingsError
from ._private import private_dir


def save_setting(path: Path, key: str, value: Any) -> None:
    """Set ``key`` (dotted, e.g. ``"mode"`` or ``"tts.reference_id"``) in the TOML file at ``path``.

    The file is replaced atomically and created with mode 0600 (it may hold API keys). When
    ``path`` is a symbolic link, the file it points to is the one replaced (the temporary file
    and the lock live beside it) and the link is left as it is.
    """
    target = _write_target(path)
    with _writers_lock(target):
        _write_setting(target, key, value)


def _write_target(path: Path) -> Path:
    """The file to replace for ``path`` (a link's target, followed to the end), its folder
    created if missing."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise SettingsError(f"cannot write settings file {path}: {exc}") from None
    try:
        private_dir(target.parent, tighten=False)  # the user's own folder: its mode is theirs
    except OSError as exc:
        raise SettingsError(f"cannot write settings file {path}: {exc.strerror}") from None
    return target


@contextlib.contextmanager
def _writers_lock(path: Path) -> Iterator[None]:
    """Exclusive among every process writing ``path`` (held for milliseconds)."""
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise SettingsError(f"cannot write settings file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (closing releases the lock)


def _write_setting(path: Path, key: str, value: Any) -> None:
    import tomlkit

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None

    *sections, leaf = key.split(".")
    table: Any = document
    for section in sections:
        if section not in table:
            table[section] = tomlkit.table()
        table = table[section]
    table[leaf] = value

    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(tomlkit.dumps(document))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
