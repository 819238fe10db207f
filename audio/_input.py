"""The microphone's PortAudio side: a 16 kHz mono input stream whose blocks reach the event loop.

PortAudio calls its callback on a thread of its own with each block recorded; the callback only
copies the block and hands it to the event loop (``call_soon_threadsafe``), so nothing heavy
runs there. Opening and closing the stream — the PortAudio calls that can block, or hang on a
sound server that stopped answering — run on the microphone's own thread ("termmate-mic"),
bounded by a timeout, never on the event loop.

A device that cannot record at 16 kHz is opened at its own rate and resampled (linear
interpolation: plain ALSA hardware only; PulseAudio and PipeWire resample well themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np

from .device import import_sounddevice, parse_device, quiet_alsa
from .errors import MicrophoneUnavailable
from .vad import FRAME_MS, LISTEN_RATE

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
"""Longest wait for PortAudio to open or close the stream before calling the sound system hung."""
SILENT_TIMEOUT_S = 3.0
"""Longest wait for the next block: a stream that delivers nothing is broken."""

_CLOSED = object()


class InputStream:
    """``async with InputStream(device) as mic: block = await mic.read()`` — 16 kHz mono
    float32 blocks of about 20 ms. Raises MicrophoneUnavailable with the reason."""

    def __init__(self, device: str | int | None = None) -> None:
        self.device = parse_device(device)
        self._stream: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._blocks: asyncio.Queue[Any] = asyncio.Queue()
        self._resampler: _Resampler | None = None

    async def __aenter__(self) -> InputStream:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-mic")
        try:
            await self._on_thread(self._open, loop)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def read(self) -> np.ndarray:
        """The next block; MicrophoneUnavailable when the stream stopped or went silent."""
        try:
            # Not wait_for: on Python 3.11 it returns a block that arrived just as the read was
            # cancelled, swallowing the cancellation, and the listening never ends.
            async with asyncio.timeout(SILENT_TIMEOUT_S):
                block = await self._blocks.get()
        except TimeoutError:
            raise MicrophoneUnavailable(
                f"the microphone delivered no sound for {SILENT_TIMEOUT_S:g} s "
                "(is the sound system running?)"
            ) from None
        if block is _CLOSED:
            raise MicrophoneUnavailable("the microphone stopped (was it unplugged?)")
        return block

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            if self._stream is not None:
                with contextlib.suppress(MicrophoneUnavailable):
                    await self._on_thread(self._close, None, executor=executor)
        finally:
            self._stream = None
            executor.shutdown(wait=False)

    # -- on the microphone's thread ------------------------------------------------------------

    async def _on_thread(
        self, work: Any, argument: Any, *, executor: ThreadPoolExecutor | None = None
    ) -> None:
        future = asyncio.get_running_loop().run_in_executor(
            executor or self._executor, work, argument
        )
        try:
            await asyncio.wait_for(asyncio.shield(future), OPEN_TIMEOUT_S)
        except TimeoutError:
            # PortAudio is stuck in the sound system: leave that thread to it.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise MicrophoneUnavailable(
                f"the sound system did not answer within {OPEN_TIMEOUT_S:g} s"
            ) from None

    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        sd = import_sounddevice(MicrophoneUnavailable)
        try:
            info = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            where = "" if self.device is None else f" '{self.device}'"
            raise MicrophoneUnavailable(
                f"no microphone{where} found ({exc}); set [audio] input_device to a name or "
                "index from `python -m sounddevice`"
            ) from None
        try:
            self._stream = self._start(sd, loop, LISTEN_RATE)
        except (sd.PortAudioError, ValueError) as exc:
            own_rate = int(info.get("default_samplerate") or 0)
            if own_rate in (0, LISTEN_RATE):
                raise MicrophoneUnavailable(f"cannot open the microphone: {exc}") from None
            log.info("the microphone cannot record at 16 kHz (%s): resampling %d Hz", exc, own_rate)
            self._resampler = _Resampler(own_rate, LISTEN_RATE)
            try:
                self._stream = self._start(sd, loop, own_rate)
            except (sd.PortAudioError, ValueError) as again:
                raise MicrophoneUnavailable(f"cannot open the microphone: {again}") from None

    def _start(self, sd: Any, loop: asyncio.AbstractEventLoop, rate: int) -> Any:
        def take(indata: np.ndarray, _frames: int, _time: Any, status: Any) -> None:
            if status:
                log.debug("microphone: %s", status)
            block = np.array(indata[:, 0], dtype=np.float32)
            if self._resampler is not None:
                block = self._resampler(block)
            self._hand_over(loop, block)

        with quiet_alsa():
            stream = sd.InputStream(
                device=self.device,
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=rate * FRAME_MS // 1000,
                callback=take,
                finished_callback=lambda: self._hand_over(loop, _CLOSED),
            )
        try:
            stream.start()
        except BaseException:
            stream.close()
            raise
        return stream

    def _hand_over(self, loop: asyncio.AbstractEventLoop, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens any more
            loop.call_soon_threadsafe(self._blocks.put_nowait, item)

    def _close(self, _argument: Any) -> None:
        stream = self._stream
        if stream is not None:
            stream.abort()
            stream.close()


class _Resampler:
    """Linear interpolation from ``source`` to ``target`` Hz across blocks (no seams)."""

    def __init__(self, source: int, target: int) -> None:
        self.step = source / target
        # The next output sample's place, in input samples from the block's first (-1: the
        # previous block's last).
        self.position = 0.0
        self.last = np.zeros(1, dtype=np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if not len(block):
            return block
        data = np.concatenate((self.last, block))  # index 0: the previous block's last sample
        # Up to the block's last sample: past it, the next block's first one is needed.
        positions = np.arange(self.position, len(block) - 1 + 1e-9, self.step)
        out = np.interp(positions + 1, np.arange(len(data)), data).astype(np.float32)
        self.position += len(positions) * self.step - len(block)  # in (-1, step - 1]
        self.last = block[-1:].copy()
        return out
