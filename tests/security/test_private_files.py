"""On a shared machine termmate's data is its user's alone: folders 0700, files 0600.

Every command runs here under umask 022 (the usual default, which would leave files 0644),
as real processes that create everything termmate keeps: conversations (SQLite and its WAL),
the log, memories, an export, a cloned voice.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.audio.conftest import tone_file
from tests.support.cli import ROOT, TERMMATE, Run
from tests.support.fish_speech_server import FishSpeechServer

SHARED_MACHINE_UMASK = 0o022


def _termmate_under_umask_022(env: Mapping[str, str], *args: str) -> Run:
    """``termmate ARGS`` in a fresh process started with umask 022."""
    done = subprocess.run(
        [*TERMMATE, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(SHARED_MACHINE_UMASK),
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _open_to_others(root: Path) -> list[str]:
    """Everything under ``root`` (itself included) that is not 0700 (folders) or 0600 (files)."""
    found = []
    for path in (root, *root.rglob("*")):
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            private = mode == 0o700
        elif stat.S_ISREG(info.st_mode):
            private = mode == 0o600
        else:  # a socket or link: at least closed to others
            private = mode & 0o077 == 0
        if not private:
            found.append(f"{path.relative_to(root.parent)} {mode:o}")
    return found


@pytest.fixture
def env(termmate_env: dict[str, str], tiny_embed_gguf: Path) -> dict[str, str]:
    """The tiny chat model, offline, and the tiny embedding model for memories."""
    return {
        **termmate_env,
        "TERMMATE_USER_ID": "minsu",
        "TERMMATE_LOCAL__EMBED_MODEL": str(tiny_embed_gguf),
    }


def test_everything_termmate_creates_is_private(env: dict[str, str], tmp_path: Path) -> None:
    data_dir = Path(env["TERMMATE_DATA_DIR"])
    asked = _termmate_under_umask_022(env, "ask", "hello")
    assert asked.returncode == 0, asked.stderr
    assert (data_dir / "threads.sqlite").is_file() and (
        data_dir / "logs" / "termmate.log"
    ).is_file()

    added = _termmate_under_umask_022(env, "memory", "add", "The user likes tea", "-c", "food")
    assert added.returncode == 0, added.stderr
    export = tmp_path / "memories.jsonl"
    exported = _termmate_under_umask_022(env, "memory", "export", str(export))
    assert exported.returncode == 0, exported.stderr
    assert "likes tea" in export.read_text(encoding="utf-8")

    sample = tmp_path / "sample.wav"
    sample.write_bytes(tone_file(4.0))
    # A server without a references API: the sample is kept in data_dir/voices only.
    with FishSpeechServer(references_api=False) as server:
        voice_env = {**env, "TERMMATE_TTS__URL": server.url}
        cloned = _termmate_under_umask_022(voice_env, "voice", "add", str(sample), "--text", "hi")
    assert cloned.returncode == 0, cloned.stderr

    for kept in ("threads.sqlite", "logs/termmate.log", "memory", "voices/sample.wav"):
        assert (data_dir / kept).exists(), f"{kept} was made, so its mode was checked"
    assert _open_to_others(data_dir) == []
    assert stat.S_IMODE(export.stat().st_mode) == 0o600


def test_a_data_dir_open_to_others_is_closed(env: dict[str, str], tmp_path: Path) -> None:
    data_dir = Path(env["TERMMATE_DATA_DIR"])
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # (mkdir's mode is cut by this process's umask)
    asked = _termmate_under_umask_022(env, "ask", "hello")
    assert asked.returncode == 0, asked.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
