"""Logs go to a file: the TUI owns the terminal."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def setup_logging(log_file: Path, level: int = logging.INFO) -> None:
    """Send termmate's logs to ``log_file`` (rotated at 2 MB, 3 kept)."""
    root = logging.getLogger()
    if any(getattr(h, "_termmate", False) for h in root.handlers):
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()  # a read-only home must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._termmate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Request lines carry URLs only, but keep third-party chatter out of the log.
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio", "llama.cpp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
