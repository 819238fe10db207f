"""Helper processes tests start (Xvfb, PulseAudio, parec, llama.cpp's server, termmate): stopping
them, and reading what they print."""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import Any


def terminate(process: subprocess.Popen[Any], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout_s``; returns once it is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_until(process: subprocess.Popen[bytes], needle: bytes, timeout_s: float) -> bytes:
    """Read the process's stdout (a pipe) until ``needle`` has appeared; everything read.

    Fails when it does not appear within ``timeout_s`` or the process ends first.
    """
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            raise AssertionError(f"never saw {needle!r} on stdout; got {seen!r}")
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            seen += os.read(process.stdout.fileno(), 4096)
    return seen
