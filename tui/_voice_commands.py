"""``termmate say`` and ``termmate voice …``: check the voice, clone and choose voices.

Exit codes: 0 done, 2 a usage error (a bad sample, an unknown voice), 3 no TTS server set,
1 anything else (the server failed, no sound device).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from . import _exit
from ._signals import run_command

# Read aloud by `voice record` unless --text says otherwise (about 12 s at a calm pace).
READ_ALOUD = {
    "en": "The quick brown fox jumps over the lazy dog. I like quiet mornings, a cup of "
    "coffee, and a terminal full of green tests.",
    "ko": "안녕하세요, 저는 오늘 아침에 커피를 한 잔 마시고 터미널에서 즐겁게 일을 "
    "시작했습니다. 날씨가 맑아서 기분이 좋네요.",
}


def add_voice_commands(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``say`` and ``voice`` to the ``termmate`` subparsers."""
    say = commands.add_parser(
        "say", parents=[common], help="speak TEXT through the TTS server (a setup check)"
    )
    say.add_argument("text", nargs="+", metavar="TEXT")

    voice = commands.add_parser("voice", parents=[common], help="clone, list and choose voices")
    actions = voice.add_subparsers(dest="voice_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", parents=[common], help="clone a voice from an audio file")
    add.add_argument("file", type=Path, metavar="FILE", help="3–30 s of speech (WAV, FLAC, …)")
    add.add_argument("--text", required=True, help="what is said in the recording")
    add.add_argument("--name", help="the voice's name (default: the file name)")
    add.add_argument("--replace", action="store_true", help="overwrite a voice of that name")

    actions.add_parser("list", parents=[common], help="list the voices")

    use = actions.add_parser("use", parents=[common], help="speak in NAME from now on")
    use.add_argument("name", metavar="NAME")

    record = actions.add_parser(
        "record", parents=[common], help="record a sample from the microphone and clone it"
    )
    record.add_argument("--name", default="my-voice", help="the voice's name (default: my-voice)")
    record.add_argument("--text", help="what you will read aloud (default: a sentence shown)")
    record.add_argument("--korean", action="store_true", help="read a Korean sentence instead")
    record.add_argument("--seconds", type=float, default=12.0, help="how long to record")
    record.add_argument("--replace", action="store_true", help="overwrite a voice of that name")


def run_say(settings: Any, args: argparse.Namespace) -> int:
    return run_command(
        lambda: _with_voice(settings, lambda voice: _say(voice, " ".join(args.text)))
    )


def run_voice(settings: Any, args: argparse.Namespace) -> int:
    actions = {"add": _add, "list": _list, "use": _use, "record": _record}
    action = actions[args.voice_command]
    return run_command(lambda: _with_voice(settings, lambda voice: action(voice, settings, args)))


async def _with_voice(settings: Any, work: Any) -> int:
    from audio import (
        TTSError,
        VoiceExists,
        VoiceNotFound,
        VoiceSampleError,
        VoiceService,
    )
    from config import SettingsError

    voice = VoiceService.from_settings(settings)
    try:
        if voice.client is None:
            print(f"termmate: {voice.off_reason}; or TERMMATE_TTS__URL", file=sys.stderr)
            return _exit.NO_MODEL
        return await work(voice)
    except (VoiceSampleError, VoiceNotFound, VoiceExists) as exc:
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.USAGE
    except SettingsError as exc:  # the settings file could not take the chosen voice
        print(f"termmate: {exc}", file=sys.stderr)
        return _exit.USAGE
    except TTSError as exc:
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.FAILURE
    finally:
        await voice.aclose()


async def _say(voice: Any, text: str) -> int:
    status = await voice.start()
    if status.state == "off":
        print(f"termmate: voice off: {status.reason}", file=sys.stderr)
        return _exit.FAILURE
    result = await voice.say(text)
    if result.error:
        print(f"termmate: {result.error}", file=sys.stderr)
        return _exit.FAILURE
    where = f"; saved to {result.saved_to}" if result.saved_to else ""
    first = f", first sound after {result.first_audio_ms:,.0f} ms" if result.first_audio_ms else ""
    print(
        f"spoke {result.spoken} sentence{'s' if result.spoken != 1 else ''} "
        f"({result.audio_seconds:.1f} s of audio{first}){where}"
    )
    return _exit.OK


async def _add(voice: Any, settings: Any, args: argparse.Namespace) -> int:
    from audio import read_voice_sample_file

    sample = read_voice_sample_file(args.file)
    name = args.name or _name_from(args.file)
    cloned = await voice.clone_voice_from_audio(sample, args.text, name, replace=args.replace)
    _report_cloned(cloned)
    return _exit.OK


async def _list(voice: Any, settings: Any, args: argparse.Namespace) -> int:
    listing = await voice.list_voices()
    chosen = settings.tts.reference_id
    if not listing.voices:
        print("No voices yet. Clone one: termmate voice add FILE --text 'what is said'")
    for item in listing.voices:
        where = " + ".join(
            w for w, yes in (("server", item.on_server), ("local", item.saved_locally)) if yes
        )
        mark = "▶ " if item.name == chosen else "  "
        print(f"{mark}{item.name}  ({where})")
    if listing.server != "ok":
        note = {
            "no_references_api": "the server keeps no voices; local ones are sent with each "
            "request",
            "unreachable": "the server could not be reached",
            "not_configured": "no TTS server is set",
        }[listing.server]
        print(f"({note}{': ' + listing.detail if listing.detail else ''})", file=sys.stderr)
    return _exit.OK


async def _use(voice: Any, settings: Any, args: argparse.Namespace) -> int:
    from config import save_setting

    chosen = await voice.use_voice(args.name)
    if settings.config_file is not None:
        save_setting(settings.config_file, "tts.reference_id", chosen.name)
        print(f"speaking as {chosen.name} from now on (saved to {settings.config_file})")
    return _exit.OK


async def _record(voice: Any, settings: Any, args: argparse.Namespace) -> int:
    from audio import MicrophoneUnavailable, check_voice_name

    name = check_voice_name(args.name)
    text = args.text or READ_ALOUD["ko" if args.korean else "en"]
    print(f"Read this aloud when recording starts:\n\n    {text}\n")
    out = sys.stdout

    def countdown(n: int) -> None:
        out.write(f"\rrecording in {n}…   " if n else "\rrecording now — speak!          \n")
        out.flush()

    def level(meter: float, elapsed_s: float) -> None:
        bar = "█" * int(meter * 30)
        out.write(f"\r{elapsed_s:4.1f} s / {args.seconds:g} s  {bar:<30}")
        out.flush()

    try:
        sample = await voice.record_voice_sample(
            seconds=args.seconds, on_countdown=countdown, on_level=level
        )
    except MicrophoneUnavailable as exc:
        print(f"\ntermmate: {exc.reason}", file=sys.stderr)
        return _exit.FAILURE
    out.write("\n")
    cloned = await voice.clone_voice_from_audio(sample, text, name, replace=args.replace)
    _report_cloned(cloned)
    return _exit.OK


def _report_cloned(cloned: Any) -> None:
    where = "on the TTS server" if cloned.stored_on == "server" else f"in {cloned.path.parent}"
    print(f"cloned voice '{cloned.name}' ({cloned.duration_s:.1f} s) {where}")
    if cloned.note:
        print(cloned.note)
    print(f"use it with: termmate voice use {shlex.quote(cloned.name)}")


def _name_from(path: Path) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9 _-]+", "-", path.stem).strip(" -_")
    return cleaned[:64] or "voice"
