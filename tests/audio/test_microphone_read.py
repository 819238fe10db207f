"""Reading the microphone can always be cancelled: closing hands-free (F6, quitting) cancels a
read while PortAudio hands over a block every 20 ms, so a block that has just arrived must not
win over the cancellation (Python 3.11's ``asyncio.wait_for`` let it, and the listening task
then ran on for ever; tests/audio/test_tui_hearing.py shows F6 closing it end to end)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio._input import InputStream

pytestmark = pytest.mark.timeout(30)


async def test_a_read_cancelled_as_a_block_arrives_is_cancelled_and_keeps_the_block() -> None:
    microphone = InputStream()
    reading = asyncio.create_task(microphone.read())
    await asyncio.sleep(0)  # the read waits for a block
    block = np.full(320, 0.25, dtype=np.float32)
    # A block arrives (what PortAudio's callback hands over with call_soon_threadsafe), and
    # the read is cancelled before it has run again.
    microphone._blocks.put_nowait(block)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert await microphone.read() is block  # nothing heard is lost either
