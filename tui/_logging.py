"""Logs go to a file: the TUI owns the terminal. The file is private, and holds no secrets."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from config import private_dir, redact_secrets

_TRACEBACKS = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Takes passwords and tokens out of URLs in every record, whoever logged it.

    termmate's own messages show URLs redacted already; this is for third-party libraries
    (httpx, mem0, LangGraph) and tracebacks that quote a URL as it was given.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it as it always does
            return True
        cleaned = redact_secrets(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatted here so the handler's formatter uses the redacted text as it is.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info)
        return True


def setup_logging(log_file: Path, level: int = logging.INFO) -> None:
    """Send termmate's logs to ``log_file`` (rotated at 2 MB, 3 kept), readable by this user
    only, with credentials in URLs redacted."""
    root = logging.getLogger()
    if any(getattr(h, "_termmate", False) for h in root.handlers):
        return
    try:
        private_dir(log_file.parent)
        _private_file(log_file)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()  # a read-only home must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    handler._termmate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Request lines carry URLs only, but keep third-party chatter out of the log.
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio", "llama.cpp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def also_to_stderr(level: int = logging.INFO) -> None:
    """Send termmate's logs to stderr too (redacted like the file): for ``termmate serve``,
    whose terminal, or the front end that spawned it, reads them there."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logging.getLogger().addHandler(handler)


def _private_file(path: Path) -> None:
    """Create ``path`` 0600, or tighten it to 0600 (a log written before termmate kept its
    files private); rotation renames it, so the older logs stay 0600 too."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    with contextlib.suppress(OSError):  # e.g. a file system without permissions
        path.chmod(0o600)
