"""sounddevice, imported only when sound is first needed, with PortAudio's noise kept quiet.

Importing sounddevice loads PortAudio, which raises OSError when the library is missing, and
whose ALSA back end prints chatter straight to file descriptor 2 — on top of the TUI. Both
are handled here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from .errors import VoiceError

_lock = threading.Lock()
log = logging.getLogger(__name__)


_alsa_handler: object = None


@contextmanager
def quiet_alsa() -> Iterator[None]:
    """Route ALSA's own error messages to our log instead of the terminal.

    ALSA prints device-probe chatter and "underrun occurred" lines straight to file descriptor 2
    (from PortAudio's thread, at any time). The TUI draws on that same descriptor, so it cannot
    be pointed elsewhere; instead ALSA gets an error handler of ours, once, for the process.
    """
    _install_alsa_handler()
    yield


def _install_alsa_handler() -> None:
    global _alsa_handler
    if _alsa_handler is not None:
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    if name is None:
        _alsa_handler = False  # no ALSA here: nothing to quieten
        return
    try:
        asound = ctypes.CDLL(name)
    except OSError:
        _alsa_handler = False
        return
    # void handler(const char *file, int line, const char *function, int err, const char *fmt, ...)
    handler_type = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )

    def handler(file: bytes, line: int, function: bytes, err: int, fmt: bytes) -> None:
        log.debug("ALSA: %s (%s)", (fmt or b"").decode(errors="replace"), err)

    _alsa_handler = handler_type(handler)  # keep a reference: ctypes does not
    asound.snd_lib_error_set_handler(_alsa_handler)


def import_sounddevice(error: type[VoiceError]) -> ModuleType:
    """The sounddevice module; ``error`` (VoiceOff, MicrophoneUnavailable) when PortAudio is
    missing or broken."""
    with _lock:
        try:
            with quiet_alsa():
                import sounddevice
        except OSError as exc:
            raise error(
                f"the PortAudio library is not installed ({exc}); install libportaudio2"
            ) from None
        except ImportError as exc:
            raise error(f"the sounddevice package cannot be loaded ({exc})") from None
    return sounddevice


def parse_device(value: str | int | None) -> str | int | None:
    """A device setting: an index ("3") or part of a device name ("USB"), or None."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return int(text) if text.isdigit() else text
    return value
