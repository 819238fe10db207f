"""private_dir: termmate's folders are made 0700, and tightened when they already exist."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from config import private_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_folders_and_their_new_parents_are_made_0700(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the shared-machine default, which would give 0755
    try:
        made = private_dir(tmp_path / "data" / "logs")
    finally:
        os.umask(previous)
    assert made.is_dir()
    assert (_mode(tmp_path / "data"), _mode(made)) == (0o700, 0o700)


def test_an_existing_folder_is_tightened_unless_it_is_the_users_own(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "data", tmp_path / "config"
    for folder in (ours, theirs):
        folder.mkdir()
        folder.chmod(0o755)
    private_dir(ours)
    private_dir(theirs, tighten=False)
    assert (_mode(ours), _mode(theirs)) == (0o700, 0o755)


def test_a_file_in_the_way_is_an_error_and_keeps_its_mode(tmp_path: Path) -> None:
    in_the_way = tmp_path / "data"
    in_the_way.write_text("not a folder")
    in_the_way.chmod(0o644)
    with pytest.raises(NotADirectoryError):
        private_dir(in_the_way)
    assert _mode(in_the_way) == 0o644
