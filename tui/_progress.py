"""A download progress bar on a plain stream (stderr), for the one-shot commands."""

from __future__ import annotations

import sys
from typing import Any, TextIO

BAR_WIDTH = 30


def format_progress(name: str, done: int, total: int | None) -> str:
    mb = done / 1_000_000
    if not total:
        return f"downloading {name}: {mb:,.0f} MB"
    share = min(1.0, done / total)
    filled = int(share * BAR_WIDTH)
    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
    return f"downloading {name} {bar} {share:4.0%} ({mb:,.0f}/{total / 1_000_000:,.0f} MB)"


class DownloadReporter:
    """Redraws one line on a terminal; prints every 10% when the stream is a file or pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_decile = -1

    def show(self, name: str, done: int, total: int | None) -> None:
        line = format_progress(name, done, total)
        complete = total is not None and done >= total
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if complete else ""))
        else:
            decile = (done * 10 // total) if total else -1
            if decile == self._last_decile and not complete:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def terminal_downloads() -> Any:
    """agent.llm.downloads.Downloads that draw their progress on stderr (for commands that build
    models without a Companion)."""
    from agent.llm.downloads import Downloads

    from ._output import raw_stream

    reporter = DownloadReporter(raw_stream(sys.stderr))
    return Downloads(publish=lambda p: reporter.show(p.name, p.done, p.total))
