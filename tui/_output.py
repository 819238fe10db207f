"""What the one-shot commands write to the terminal: safe text, and no crash once it is gone.

Model replies, memories, thread titles and servers' error messages are text termmate does not
control. Written raw to a terminal, an escape sequence in them could retitle the window, hide
text or worse, so every control character but newline and tab is dropped from what reaches a
terminal as plain text. JSON output is left alone: JSON escaping already makes it safe, and its
bytes are data.

When the terminal hangs up (SIGHUP: the SSH session dropped) or a pipe's reader goes away, writing
fails; the command still has work to finish (saving the reply, memory updates), so output that
can no longer be delivered is dropped instead of raising.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

# C0 controls except tab (\x09) and newline (\x0a), DEL, and the C1 controls (CSI is \x9b).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without control characters other than newline and tab."""
    return _CONTROLS.sub("", text)


class SafeStream(io.TextIOBase):
    """A text stream that strips control characters (``strip``) and drops what it can no
    longer deliver. ``raw`` is the stream underneath, for callers that write their own control
    sequences (a progress bar's carriage return)."""

    def __init__(self, raw: TextIO, *, strip: bool) -> None:
        super().__init__()
        self.raw = raw
        self._strip = strip
        self.broken = False
        """True once a write or flush failed: the reader is gone, later output is dropped."""

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.raw.write(terminal_safe(text) if self._strip else text)
            except (OSError, ValueError):  # EIO after a hang-up, EPIPE, a closed stream
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.raw.flush()
            except (OSError, ValueError):
                self.broken = True

    def isatty(self) -> bool:
        try:
            return self.raw.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


def raw_stream(stream: Any) -> TextIO:
    """The stream under a SafeStream (or ``stream`` itself): for deliberate control sequences."""
    return stream.raw if isinstance(stream, SafeStream) else stream


@contextlib.contextmanager
def safe_output(*, data_on_stdout: bool) -> Iterator[None]:
    """Wrap stdout and stderr for one command, restoring them afterwards.

    stderr always carries messages meant for a person. stdout carries plain text, unless the
    command writes data there (``--json``, an export to "-"): then it is only kept from failing.
    """
    saved = sys.stdout, sys.stderr
    sys.stdout = SafeStream(saved[0], strip=not data_on_stdout)  # type: ignore[assignment]
    sys.stderr = SafeStream(saved[1], strip=True)  # type: ignore[assignment]
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved
