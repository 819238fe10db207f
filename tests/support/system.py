"""Skip tests whose system parts (tmux, Xvfb, PulseAudio) are missing — except in CI.

Under TERMMATE_REQUIRE_SYSTEM=1 (set by .ci/run) a missing part fails the test instead, so CI
can never go green by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest


def system_required() -> bool:
    return os.environ.get("TERMMATE_REQUIRE_SYSTEM") == "1"


def require_executable(name: str, why: str = "") -> str:
    """The path of ``name``; skips (or fails under TERMMATE_REQUIRE_SYSTEM=1) when missing."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed{': ' + why if why else ''}")
    return path  # type: ignore[return-value]


def missing(reason: str) -> None:
    """Skip with ``reason``, or fail when the system parts are required."""
    if system_required():
        pytest.fail(f"TERMMATE_REQUIRE_SYSTEM=1 but {reason}")
    pytest.skip(reason)
