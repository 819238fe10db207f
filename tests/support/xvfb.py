"""A real X server for tests: Xvfb on a free display number, showing pictures we choose.

Xvfb picks the display number itself (``-displayfd``) and reports it only once it accepts
connections, so there is no guessing and no polling. ``-noreset`` keeps the root window's
background when the programs that set it (xsetroot, feh) exit.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.support.processes import terminate

READY_TIMEOUT_S = 15.0


@dataclass
class XvfbDisplay:
    """A running Xvfb: its DISPLAY name, size, and helpers to put pictures on it."""

    display: str
    width: int
    height: int
    scratch: Path
    process: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        """This process's environment pointed at the display (for subprocesses)."""
        env = {**os.environ, "DISPLAY": self.display}
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def solid(self, colour: str) -> None:
        """Fill the whole screen with ``colour`` ("#336699" or an X colour name)."""
        self._run(["xsetroot", "-solid", colour])

    def show(self, picture: Image.Image) -> None:
        """Show ``picture`` pixel for pixel (it must be the screen's size) as the root window."""
        if picture.size != (self.width, self.height):
            raise ValueError(f"picture is {picture.size}, the screen {self.width}×{self.height}")
        path = self.scratch / f"picture-{time.monotonic_ns()}.png"
        picture.convert("RGB").save(path)
        # --bg-center at the screen's own size: no scaling. --no-fehbg: leave $HOME alone.
        self._run(["feh", "--no-fehbg", "--bg-center", str(path)])
        path.unlink()

    def _run(self, command: list[str]) -> None:
        subprocess.run(command, env=self.env, check=True, capture_output=True, timeout=20)


@contextmanager
def xvfb(scratch: Path, width: int = 1920, height: int = 1080) -> Iterator[XvfbDisplay]:
    """Start Xvfb at ``width``×``height``×24, yield it once it is ready, stop it afterwards."""
    executable = shutil.which("Xvfb")
    if executable is None:
        raise FileNotFoundError("Xvfb is not installed")
    read_fd, write_fd = os.pipe()
    log_path = scratch / "xvfb.log"
    log = log_path.open("wb")  # a file, not a pipe: an unread pipe could stall Xvfb
    process = subprocess.Popen(
        [
            executable,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    os.close(write_fd)
    try:
        number = _read_display_number(read_fd, process, log_path)
        yield XvfbDisplay(f":{number}", width, height, scratch, process)
    finally:
        os.close(read_fd)
        terminate(process, timeout_s=10)
        log.close()


def _read_display_number(read_fd: int, process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + READY_TIMEOUT_S
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Xvfb did not become ready within {READY_TIMEOUT_S:g} s")
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_fd, 64)
        if not chunk:  # Xvfb exited before reporting a display
            process.wait(timeout=5)
            output = log.read_text(errors="replace").strip()
            raise RuntimeError(f"Xvfb exited with {process.returncode}: {output}")
        data += chunk
    return int(data.strip())
