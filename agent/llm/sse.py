"""Server-sent events, as OpenAI-compatible servers stream them."""

from __future__ import annotations

from collections.abc import AsyncIterator

DONE = "[DONE]"


async def iter_sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield the ``data`` of each event; stop after ``[DONE]``.

    Follows the SSE rules that matter here: ``:`` lines are comments, several ``data:`` lines
    in one event are joined with newlines, and a blank line ends an event.
    """
    buffer: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if buffer:
                data = "\n".join(buffer)
                buffer.clear()
                if data == DONE:
                    return
                yield data
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            buffer.append(value.removeprefix(" "))
    if buffer:
        data = "\n".join(buffer)
        if data != DONE:
            yield data
