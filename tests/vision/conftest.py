"""Fixtures for sight: a real Xvfb screen, pictures to show on it, a scripted VLM server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiny_gguf
from tests.support.scripted_vlm import ScriptedVLM, description
from tests.support.system import require_executable
from tests.support.xvfb import XvfbDisplay, xvfb
from tests.vision.pictures import HEIGHT, WIDTH
from tests.vision.tiny_vlm import VLM_CHAT_TEMPLATE, write_tiny_mmproj

SCRIPTED_DESCRIPTION = "The user is reading a Python traceback in a terminal."


@pytest.fixture(scope="session")
def xvfb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XvfbDisplay]:
    """One Xvfb for the whole session (1920×1080×24)."""
    require_executable("Xvfb", "sight tests capture a virtual X screen")
    require_executable("xsetroot", "sight tests paint the screen (x11-xserver-utils)")
    require_executable("feh", "sight tests show pictures on the screen")
    with xvfb(tmp_path_factory.mktemp("xvfb"), WIDTH, HEIGHT) as server:
        yield server


@pytest.fixture
def screen(xvfb_server: XvfbDisplay, monkeypatch: pytest.MonkeyPatch) -> XvfbDisplay:
    """The Xvfb screen as this test's DISPLAY, painted a neutral grey to start from."""
    monkeypatch.setenv("DISPLAY", xvfb_server.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    xvfb_server.solid("#808080")
    return xvfb_server


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session with no X display at all (a console, or SSH without -X)."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.fixture
def scripted_vlm() -> Iterator[ScriptedVLM]:
    """A scripted OpenAI-compatible VLM on 127.0.0.1."""
    with ScriptedVLM(default=description(SCRIPTED_DESCRIPTION)) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny text model and its tiny vision projector, both random: (model, mmproj)."""
    folder = tmp_path_factory.mktemp("vlm")
    # The tiny model, with a chat template that reads content parts as vision prompts send them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiny_gguf, "CHAT_TEMPLATE", VLM_CHAT_TEMPLATE)
        model = tiny_gguf.write_tiny_gguf(folder / "tiny-vlm.gguf")
    mmproj = write_tiny_mmproj(folder / "mmproj-tiny-vlm.gguf", tiny_gguf.TinyModelSpec().n_embd)
    return model, mmproj
