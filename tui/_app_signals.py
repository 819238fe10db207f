"""The TUI's stop signals: SIGTERM, SIGINT and SIGHUP end it the way Esc plus quit would.

The one-shot commands get theirs from ``_signals.run_command``; the TUI runs on Textual's event
loop, so it installs its own handlers here. What to do on a signal is the app's (stop the
reply, save, exit 128 + the signal); when it is done is decided here.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

from ._signals import STOP_SIGNALS


def handle_stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[int], None]) -> None:
    """Call ``stop(signum)`` on the event loop when a stop signal arrives.

    A terminal that goes away sends SIGHUP and, right behind it, SIGCONT, on which Textual
    would resume drawing on the dead terminal (and can wedge its output thread). So SIGHUP is
    handled the moment it arrives, before that SIGCONT, which is then ignored.
    """
    for signum in STOP_SIGNALS:
        if signum != signal.SIGHUP:
            loop.add_signal_handler(signum, stop, signum)
    textual_continue = signal.getsignal(signal.SIGCONT)
    hung_up = False

    def on_hangup(signum: int, _frame: Any) -> None:
        nonlocal hung_up
        hung_up = True
        let_the_dead_terminal_go()
        loop.call_soon_threadsafe(stop, signum)

    def on_continue(signum: int, frame: Any) -> None:
        if not hung_up and callable(textual_continue):
            textual_continue(signum, frame)

    signal.signal(signal.SIGHUP, on_hangup)
    signal.signal(signal.SIGCONT, on_continue)


def let_the_dead_terminal_go() -> None:
    """The terminal hung up: point standard input, output and error at /dev/null.

    Writes to a hung-up terminal fail, and Textual's output thread can wedge on them, which
    would stall the saving and the exit that follow. Nobody can see the screen any more.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)
