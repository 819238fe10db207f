"""Nobody else answers for the memory owner: the socket lives where only we can bind it, and
a client checks who answers before it sends anything."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.memory.client import RemoteMemory
from agent.memory.errors import MemoryUnavailable
from agent.memory.paths import StorePaths
from agent.memory.service import MemoryService
from tests.memory.conftest import USER, memory_settings
from tests.support.cli import ROOT
from tests.support.processes import terminate
from tests.support.system import missing
from tests.support.word_embedder import WordOverlapEmbedder

FOREIGN_UID = 65534  # "nobody"
LONG = "d" * 110  # makes DATA_DIR/memory/owner.sock too long for a Unix socket


@pytest.fixture
def shared_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir (sticky, writable by all, like /tmp), with no XDG_RUNTIME_DIR set."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    return shared


def _assert_private_dir(path: Path) -> None:
    info = os.lstat(path)
    assert stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode)
    assert info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700


def test_a_socket_path_too_long_falls_back_to_a_private_directory(
    tmp_path: Path, shared_tmp: Path
) -> None:
    paths = StorePaths(tmp_path / LONG / "memory")
    socket = paths.socket
    assert socket.parent == shared_tmp / f"termmate-{os.getuid()}"  # not in the temp dir itself
    _assert_private_dir(socket.parent)
    assert len(os.fsencode(socket)) <= 100
    assert paths.socket == socket  # the same name every time: other processes find it
    assert StorePaths(tmp_path / LONG / "other" / "memory").socket != socket


def test_the_fallback_is_in_xdg_runtime_dir_when_there_is_one(
    tmp_path: Path, shared_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    socket = StorePaths(tmp_path / LONG / "memory").socket
    assert socket.parent == runtime / "termmate"
    _assert_private_dir(socket.parent)


def _open_to_all(folder: Path) -> str:
    folder.mkdir()
    folder.chmod(0o777)
    return "open to other users (mode 777)"


def _a_link(folder: Path) -> str:
    target = folder.with_name("elsewhere")
    target.mkdir(mode=0o700)
    folder.symlink_to(target)
    return "is a symbolic link"


def _not_ours(folder: Path) -> str:
    if os.getuid() != 0:
        missing("making a folder owned by another user needs root")
    folder.mkdir(mode=0o700)
    os.chown(folder, FOREIGN_UID, FOREIGN_UID)
    return f"belongs to user id {FOREIGN_UID}"


@pytest.mark.parametrize("plant", [_open_to_all, _a_link, _not_ours])
def test_a_fallback_directory_someone_else_could_reach_is_refused(
    tmp_path: Path, shared_tmp: Path, plant
) -> None:
    folder = shared_tmp / f"termmate-{os.getuid()}"
    problem = plant(folder)
    with pytest.raises(MemoryUnavailable) as refused:
        _ = StorePaths(tmp_path / LONG / "memory").socket
    assert str(folder) in refused.value.reason
    assert problem in refused.value.reason
    assert "Remove it" in refused.value.reason


async def test_an_owner_never_serves_from_a_planted_directory(
    tmp_path: Path, shared_tmp: Path
) -> None:
    folder = shared_tmp / f"termmate-{os.getuid()}"
    _open_to_all(folder)
    settings = memory_settings(tmp_path / LONG / "data")
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder(), owner_wait_s=5)
    await client.start()
    try:
        # The owner keeps its memory to itself; the other process is told why it has none.
        assert owner.role == "owner" and owner.usable
        await owner.add("The user likes green tea", user_id=USER)
        assert list(folder.iterdir()) == [] and list(shared_tmp.iterdir()) == [folder]
        assert client.status.state == "error"
        assert "open to other users" in client.status.detail
    finally:
        await client.aclose()
        await owner.aclose()


async def test_owner_and_client_meet_in_the_private_directory(
    tmp_path: Path, shared_tmp: Path
) -> None:
    settings = memory_settings(tmp_path / LONG / "data")
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder())
    await client.start()
    try:
        assert (owner.role, client.role) == ("owner", "client")
        await client.add("The user likes green tea", user_id=USER)
        assert [r.text for r in await owner.list(user_id=USER)] == ["The user likes green tea"]
        _assert_private_dir(owner.paths.socket.parent)
    finally:
        await client.aclose()
        await owner.aclose()


@pytest.fixture
def foreign_server() -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A server run by user 65534 on a socket in a folder of its own; yields (socket, process)."""
    if os.getuid() != 0:
        missing("starting a server as another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="termmate-foreign-"))
    os.chown(folder, FOREIGN_UID, FOREIGN_UID)
    path = folder / "owner.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.foreign_server", str(path), str(FOREIGN_UID)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", "the foreign server did not start"
        yield path, process
    finally:
        terminate(process, timeout_s=5)
        shutil.rmtree(folder, ignore_errors=True)


async def _received(process: subprocess.Popen[str]) -> bytes:
    """What the foreign server got on its next connection, once that peer hung up."""
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 10)
    word, _, data = line.strip().partition(" ")
    assert word == "received", line
    return bytes.fromhex(data)


async def test_a_server_of_another_user_is_refused_before_anything_is_sent(
    foreign_server: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, process = foreign_server
    remote = RemoteMemory(path)
    try:
        with pytest.raises(MemoryUnavailable, match=f"another user \\(uid {FOREIGN_UID}\\)"):
            await remote.connect()  # how a process looks for the owner
        assert await _received(process) == b""
        with pytest.raises(MemoryUnavailable, match="another user"):
            await remote.add(text="my PIN is 4921", user_id=USER)  # a request connects itself
        assert await _received(process) == b""
        with pytest.raises(MemoryUnavailable, match="another user"):
            async for _ in remote.events():
                pass
        assert await _received(process) == b""
    finally:
        await remote.aclose()
