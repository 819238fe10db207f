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


async def test_esc_while_a_stopped_read_winds_down_is_not_lost() -> None:
    """Push-to-talk stopped (F5 again) and, while the read is being called off, cancelled
    (Esc): the cancellation must reach the listener, which hears nothing, not be taken for the
    end of the read (it would go on to transcribe)."""
    from audio.listener import _read_or_stop

    winding_down = asyncio.Event()

    class SlowToStop:
        """A microphone whose read takes a moment to be called off."""

        async def read(self) -> np.ndarray:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                winding_down.set()
                await asyncio.Event().wait()  # until cancelled once more
            raise AssertionError("unreachable")

    stop = asyncio.Event()
    listening = asyncio.create_task(_read_or_stop(SlowToStop(), stop))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # it waits for a block or the stop
    stop.set()
    await asyncio.wait_for(winding_down.wait(), 5)
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening
