"""``termmate transcribe``, and the listening half of ``termmate ask --listen``.

    termmate transcribe FILE [--language auto|ko|en] [--json]   # what a recording says
    termmate transcribe --mic                                   # the microphone check

Exit codes: 0 done · 2 a file that is not audio, empty or too long (listen.max_file_s) ·
3 no speech recogniser (the message says what to set) or no microphone · 1 heard nothing, or the
recogniser failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from . import _exit
from ._signals import interrupt_ends, run_command

LANGUAGES = ("auto", "ko", "en")


def add_hearing_commands(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``transcribe`` to the ``termmate`` subparsers."""
    transcribe = commands.add_parser(
        "transcribe",
        parents=[common],
        help="print what a recording (or the microphone, --mic) says: speech recognition",
    )
    source = transcribe.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a recording (WAV …)")
    source.add_argument(
        "--mic", action="store_true", help="record one utterance (ends on silence, or Ctrl+C)"
    )
    add_language_flag(transcribe)
    transcribe.add_argument("--json", action="store_true", help="print one JSON object instead")


def add_language_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--language",
        default=None,
        help="the language spoken: auto (detect it among asr.languages), or a code such as "
        "ko or en (default: asr.language)",
    )


def run_transcribe(settings: Any, args: argparse.Namespace) -> int:
    return run_command(lambda: _transcribe(settings, args))


async def _transcribe(settings: Any, args: argparse.Namespace) -> int:
    from agent.ears import Ears

    from ._progress import terminal_downloads

    ears = Ears.from_settings(settings, downloads=terminal_downloads())
    try:
        if args.mic:
            transcript = await hear_from_microphone(ears, args.language)
        else:
            audio = _read_recording(args.file)
            if isinstance(audio, int):
                return audio
            transcript = await ears.transcribe(audio, language=args.language)
    except HearingFailed as exc:
        return exc.code
    except Exception as exc:
        return _failure(exc)
    finally:
        await ears.aclose()
    if transcript is None or not transcript.heard_anything:
        print("termmate: heard nothing (the recording held no speech)", file=sys.stderr)
        return _exit.FAILURE
    if args.json:
        payload = transcript.to_json()
        payload["timings"] = {"total_ms": payload["timings"]["total_ms"]}
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(transcript.text)
    return _exit.OK


class HearingFailed(Exception):
    """Listening or recognition failed; ``code`` is the exit. ``message`` is what to print
    (empty: it has been printed already)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message


async def hear_from_microphone(ears: Any, language: str | None) -> Any:
    """One utterance from the microphone, transcribed (None: nothing was said). Prints what it
    is doing on stderr; raises HearingFailed (message printed) when it cannot listen."""
    done = asyncio.Event()
    print(
        "termmate: listening… (speak now; it ends when you stop, or press Ctrl+C)", file=sys.stderr
    )
    try:
        with interrupt_ends(done):
            return await ears.hear_once(stop=done, language=language)
    except Exception as exc:
        raise HearingFailed(_failure(exc)) from exc


def _read_recording(path: Path) -> bytes | int:
    try:
        return path.expanduser().read_bytes()
    except FileNotFoundError:
        print(f"termmate: no file {path}", file=sys.stderr)
    except IsADirectoryError:
        print(f"termmate: {path} is a directory, not a recording", file=sys.stderr)
    except OSError as exc:
        print(f"termmate: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
    return _exit.USAGE


def _failure(exc: Exception) -> int:
    """Say what went wrong with listening or recognition; the exit code for it."""
    from agent.llm.errors import ModelError, NoModelAvailable
    from agent.llm.hearing import BadAudio
    from audio import MicrophoneUnavailable

    if isinstance(exc, BadAudio):
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.USAGE
    if isinstance(exc, NoModelAvailable | MicrophoneUnavailable):
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.NO_MODEL
    if isinstance(exc, ModelError):
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.FAILURE
    if isinstance(exc, ValueError):  # an unknown --language
        print(f"termmate: {exc}", file=sys.stderr)
        return _exit.USAGE
    raise exc
