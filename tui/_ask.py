"""``termmate ask``: one turn without the TUI."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys
from typing import Any

from agent.threads import ThreadNotFound, new_thread_id
from config import Settings

from . import _exit
from ._hearing_commands import HearingFailed, hear_from_microphone
from ._output import raw_stream
from ._progress import DownloadReporter
from ._signals import run_command, stop_signal, stoppable


def run_ask(settings: Settings, args: argparse.Namespace) -> int:
    text = " ".join(args.text)
    if args.listen:
        if text:
            print("termmate: give either words or --listen, not both", file=sys.stderr)
            return _exit.USAGE
        return run_command(lambda: _ask(settings, None, args), whole=False)
    if text == "-":
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            print(
                f"termmate: standard input is not UTF-8 text (byte {exc.start}); "
                "convert it first, e.g. with iconv -t UTF-8",
                file=sys.stderr,
            )
            return _exit.USAGE
    text = text.strip()
    if not text:
        print("termmate: nothing to ask (the message is empty)", file=sys.stderr)
        return _exit.USAGE
    # Only the turn itself is stopped by a signal: saving it and the memory update after it
    # still run (see _signals).
    return run_command(lambda: _ask(settings, text, args), whole=False)


async def _ask(settings: Settings, text: str | None, args: argparse.Namespace) -> int:
    """One turn on ``args.thread`` (or a new one) asking ``text``, or, without it, what the
    microphone hears (``--listen``)."""
    as_json, speak = args.json, args.speak
    from agent import Companion
    from agent.companion import check_turn_input
    from agent.errors import CorruptData, StartupError
    from agent.events import SpeechDone, TurnFinished

    try:
        companion = await Companion.create(settings)
    except StartupError as exc:  # 2: settings to change; 1: data or a database to see to
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return exc.exit_code
    thread_id = args.thread or new_thread_id()
    heard = None
    try:
        check_turn_input(thread_id, text, settings.agent.max_message_chars)
        if text is None:  # --listen: what is said is the message
            heard = await hear_from_microphone(companion.ears, args.language)
            if heard is None:
                raise HearingFailed(_exit.FAILURE, "heard nothing; nothing was asked")
            text = heard.text
            check_turn_input(thread_id, text, settings.agent.max_message_chars)
    except (ValueError, HearingFailed) as exc:
        await companion.aclose()
        if isinstance(exc, ValueError):
            print(f"termmate: {exc}", file=sys.stderr)
            return _exit.USAGE
        if exc.message:
            print(f"termmate: {exc.message}", file=sys.stderr)
        return exc.code

    if speak:
        await companion.voice.start()
        reason = companion.voice.off_reason
        if reason is not None and not as_json:
            print(f"termmate: voice off: {reason}; the reply is only written", file=sys.stderr)
    reporter = asyncio.create_task(_report_updates(companion))
    finished: TurnFinished | None = None
    spoken: Any = None
    out = sys.stdout
    try:
        turn = companion.turn(
            thread_id,
            text,
            look=args.eyes,
            speak=speak,
            keep_audio=speak and as_json,
            until_spoken=speak,
            language=heard.language if heard is not None else None,
        )

        def stop_reply() -> None:
            # Like Esc: the reply stops, is saved marked stopped, and the turn ends with
            # TurnFinished(stopped=True). Before the reply has begun, the wait itself stops.
            if not companion.stop(thread_id):
                consumer.cancel()

        consumer = asyncio.current_task()
        assert consumer is not None
        with stoppable(stop_reply):
            async for event in turn:
                failed = _render(event, out, as_json=as_json)
                if isinstance(event, SpeechDone):
                    spoken = event.result
                elif isinstance(event, TurnFinished):
                    finished = event
                elif failed is not None:
                    return failed
    except CorruptData as exc:
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.FAILURE
    except ThreadNotFound as exc:  # another user's conversation (a shared data dir)
        print(f"termmate: {exc}; `termmate threads` lists yours", file=sys.stderr)
        return _exit.USAGE
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await companion.aclose()

    if finished is None:  # stopped before the reply began
        return _exit.FAILURE if stop_signal() is None else _exit.OK
    if as_json:
        payload = _as_json(finished)
        if heard is not None:
            payload["heard"] = heard.text
            payload["timings"]["asr_ms"] = _round(heard.timings["total_ms"])
        if speak:
            audio = spoken.audio_wav if spoken is not None else None
            payload["audio_response_b64"] = base64.b64encode(audio).decode() if audio else None
            first_audio = spoken.first_audio_ms if spoken is not None else None
            payload["timings"]["first_audio_ms"] = _round(first_audio)
        print(json.dumps(payload, ensure_ascii=False))
    else:
        if not finished.text.endswith("\n"):
            out.write("\n")
        if sys.stderr.isatty():
            print(f"(continue with: termmate ask --thread {thread_id} …)", file=sys.stderr)
    return _exit.OK


def _render(event: Any, out: Any, *, as_json: bool) -> int | None:
    """Show one turn event; returns an exit code when the turn failed."""
    from agent.events import ModelRouted, PerceptionFailed, SpeechFailed, TextDelta, TurnFailed

    if isinstance(event, SpeechFailed):
        print(f"termmate: voice: {event.reason}", file=sys.stderr)
    elif isinstance(event, PerceptionFailed):
        print(f"termmate: {event.status}", file=sys.stderr)
    elif isinstance(event, TextDelta) and not as_json:
        out.write(event.text)
        out.flush()
    elif isinstance(event, ModelRouted) and event.fallback_reason:
        if event.restarted and not as_json:
            out.write("\n")
        verb = "lost mid-reply" if event.restarted else "unavailable"
        print(
            f"termmate: remote model {verb} ({event.fallback_reason}); "
            f"answering with the local model {event.model}",
            file=sys.stderr,
        )
    elif isinstance(event, TurnFailed):
        print(f"termmate: {event.message}", file=sys.stderr)
        return _exit.NO_MODEL if event.kind == "no_model" else _exit.FAILURE
    return None


def _as_json(finished: Any) -> dict[str, Any]:
    return {
        "thread_id": finished.thread_id,
        "text_response": finished.text,
        "backend": finished.backend,
        "model": finished.model,
        "fallback_reason": finished.fallback_reason,
        "memory": finished.memory,
        "stopped": finished.stopped,
        "timings": {
            "first_token_ms": _round(finished.timings.first_token_ms),
            "total_ms": _round(finished.timings.total_ms),
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _report_updates(companion: Any) -> None:
    from agent.events import ModelDownload

    reporter = DownloadReporter(raw_stream(sys.stderr))
    async for update in companion.updates():
        if isinstance(update, ModelDownload):
            reporter.show(update.name, update.done, update.total)
