"""Stopping the helper processes tests start (Xvfb, PulseAudio, parec, llama.cpp's server)."""

from __future__ import annotations

import subprocess
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
