"""Signals end a command the way Ctrl+C (or Esc in the TUI) does, never by killing it mid-write.

SIGTERM comes from `kill`, SIGHUP when the terminal goes away (an SSH session dropped), SIGINT
from Ctrl+C. Each stops the work in hand (the reply being written is saved, marked stopped),
lets what is queued after it (memory updates) have its few seconds, and the command exits with
128 + the signal's number, as a shell reports a process ended by that signal.

A command runs through ``run_command``; the part a signal may stop is the whole command, or,
for one that has cleanup worth finishing (``ask``), only the region inside ``stoppable()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_WHY = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "stopped (SIGTERM)",
    signal.SIGHUP: "stopped: the terminal hung up (SIGHUP)",
}


class Stopper:
    """Turns the stop signals into cancelling the stoppable work of one running command."""

    def __init__(self) -> None:
        self.signum: int | None = None
        """The first stop signal received (None: none yet)."""
        self._actions: list[Callable[[], None]] = []

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum

    @property
    def why(self) -> str:
        return _WHY.get(self.signum, f"stopped by signal {self.signum}")  # type: ignore[call-overload]

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.receive, sig)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    def receive(self, signum: int) -> None:
        """A stop signal: stop the work in hand now (a second signal changes nothing: the work
        is already stopping, and its cleanup must not be cut short)."""
        if self.signum is None:
            self.signum = signum
            for action in list(self._actions):
                action()

    @contextlib.contextmanager
    def stoppable(self, stop: Callable[[], None] | None = None) -> Iterator[None]:
        """A stop signal inside this block stops the work in it: ``stop()`` is called, by
        default cancelling the current task.

        Leaves the block normally in that case (a CancelledError from the stop is absorbed), so
        the code after it saves and cleans up; ``signum`` says whether a signal came.
        """
        task = asyncio.current_task()
        assert task is not None
        action = stop or task.cancel
        if self.signum is not None:
            action()  # the signal came before the work began
        self._actions.append(action)
        try:
            yield
        except asyncio.CancelledError:
            if self.signum is None:
                raise  # cancelled for another reason: not ours to absorb
            task.uncancel()
        finally:
            self._actions.remove(action)


_current: Stopper | None = None


def stoppable(stop: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
    """``Stopper.stoppable(stop)`` of the command that is running (see ``run_command``)."""
    assert _current is not None, "stoppable() outside run_command()"
    return _current.stoppable(stop)


@contextlib.contextmanager
def interrupt_ends(done: asyncio.Event) -> Iterator[None]:
    """Inside this block Ctrl+C (SIGINT) sets ``done`` instead of stopping the command: "press
    Ctrl+C when you are finished" (recording). SIGTERM and SIGHUP still stop it."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, done.set)
    try:
        yield
    finally:
        if _current is not None:
            loop.add_signal_handler(signal.SIGINT, _current.receive, signal.SIGINT)
        else:
            loop.remove_signal_handler(signal.SIGINT)


def stop_signal() -> int | None:
    """The stop signal the running command received, if any."""
    return _current.signum if _current is not None else None


def run_command(main: Callable[[], Awaitable[int]], *, whole: bool = True) -> int:
    """Run ``main()`` on a new event loop with the stop signals handled; its exit code, or
    128 + the signal when one stopped it.

    ``whole``: a signal stops the whole command (cleanup in its ``finally`` still runs). Without
    it, only the regions ``main`` marks with ``stoppable()`` are stopped.
    """
    global _current
    stopper = _current = Stopper()

    async def body() -> int:
        loop = asyncio.get_running_loop()
        stopper.install(loop)
        try:
            if not whole:
                return await main()
            code = None
            with stopper.stoppable():
                code = await main()
            return code if code is not None else 0
        finally:
            stopper.uninstall(loop)

    try:
        code = asyncio.run(body())
    finally:
        _current = None
    if stopper.signum is not None:
        print(f"termmate: {stopper.why}", file=sys.stderr)
        return stopper.exit_code  # type: ignore[return-value]
    return code
