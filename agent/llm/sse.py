"""Server-sent events, as OpenAI-compatible servers stream them, read from raw bytes with a cap."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing

DONE = "[DONE]"

MAX_LINE_BYTES = 1 << 20
"""Longest line of a stream we accept: 1 MiB. One event carries a few tokens (a few hundred
bytes, a few KiB with logprobs); a line a thousand times that is a broken or hostile server,
and without a cap an endless line would be held in memory until the process dies."""

# After [DONE]: how long, and how many lines, the rest of the body is read to free the
# connection for the next request.
_DRAIN_S = 1.0
_DRAIN_LINES = 64

_LINE_END = re.compile(rb"[\r\n]")
_CR = 0x0D
_LF = 0x0A


class LineTooLong(Exception):
    """A line of the stream went past ``limit`` bytes without ending."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a line longer than {limit} bytes")
        self.limit = limit


async def iter_lines(
    chunks: AsyncIterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncIterator[str]:
    """Split a byte stream into text lines; a line ends in ``\\r\\n``, ``\\n`` or ``\\r``.

    Raises LineTooLong as soon as a line passes ``max_line_bytes``, so an endless line costs
    that much memory and no more. Undecodable bytes become U+FFFD, as in any text reader.
    """
    line = bytearray()
    after_cr = False  # the last chunk ended in \r: a \n opening the next one belongs to it
    async for chunk in chunks:
        if not chunk:
            continue
        position = 1 if after_cr and chunk[0] == _LF else 0
        after_cr = False
        while (match := _LINE_END.search(chunk, position)) is not None:
            end = match.start()
            _extend(line, chunk[position:end], max_line_bytes)
            yield line.decode("utf-8", "replace")
            line.clear()
            position = end + 1
            if chunk[end] == _CR:
                if position == len(chunk):
                    after_cr = True
                elif chunk[position] == _LF:
                    position += 1
        _extend(line, chunk[position:], max_line_bytes)
    if line:
        yield line.decode("utf-8", "replace")


def _extend(line: bytearray, piece: bytes, limit: int) -> None:
    if len(line) + len(piece) > limit:
        raise LineTooLong(limit)
    line += piece


class SSEStream:
    """The ``data`` of each event of one server-sent-events body; iterate it once.

    Follows the SSE rules that matter here: ``:`` lines are comments, several ``data:`` lines
    in one event are joined with newlines, and a blank line ends an event. Iteration stops at
    OpenAI's ``[DONE]`` event, and ``done`` then says the stream was complete: a body that ends
    without it may have been cut short (what else counts as complete is the caller's rule).
    Raises LineTooLong for a line over ``max_line_bytes``.
    """

    def __init__(
        self, chunks: AsyncIterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self._lines = iter_lines(chunks, max_line_bytes=max_line_bytes)
        self.done = False
        """True once the ``[DONE]`` event was read."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self._events()

    async def _events(self) -> AsyncIterator[str]:
        buffer: list[str] = []
        first = True
        async with aclosing(self._lines) as lines:  # stopping at [DONE] closes the reader too
            async for line in lines:
                if first:
                    line = line.removeprefix("\ufeff")  # a byte-order mark may open the stream
                    first = False
                if not line:
                    if buffer:
                        data = "\n".join(buffer)
                        buffer.clear()
                        if data == DONE:
                            self.done = True
                            await _read_to_the_end(lines)
                            return
                        yield data
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                if field == "data":
                    buffer.append(value.removeprefix(" "))
        if buffer:  # the last event, without the blank line that should end it
            data = "\n".join(buffer)
            if data == DONE:
                self.done = True
            else:
                yield data


async def _read_to_the_end(lines: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` (normally nothing but the body's end) for a moment: an
    HTTP connection whose body was read to its end goes back to the client's pool, so the
    next reply needs no new connection (nor a TLS handshake). A server that keeps talking
    past ``[DONE]`` is left: closing the stream closes that connection."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_S):
            read = 0
            async for _ in lines:
                read += 1
                if read > _DRAIN_LINES:
                    return
