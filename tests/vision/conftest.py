"""Fixtures for sight: a real Xvfb screen, pictures to show on it, a scripted VLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pictures import HEIGHT, WIDTH
from tests.support.scripted_vlm import ScriptedVLM, description
from tests.support.system import require_executable
from tests.support.xvfb import XvfbDisplay, xvfb

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
