"""The ``termmate`` command: the TUI by default, and one-shot subcommands.

Kept light on purpose: only argparse at import time, so the TUI can paint quickly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _exit
from ._args import common_flags, load_settings_or_exit, overrides_from


def build_parser() -> argparse.ArgumentParser:
    """The ``termmate`` command line: the TUI with no command, and every subcommand."""
    common = common_flags()
    parser = argparse.ArgumentParser(
        prog="termmate",
        description="A keyboard-driven voice companion for the terminal. "
        "With no command, opens the TUI.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser(
        "ask", parents=[common], help="one turn without the TUI; the reply streams to stdout"
    )
    ask.add_argument(
        "text", nargs="*", help="what to say ('-' reads it from standard input; --listen: none)"
    )
    ask.add_argument("--thread", metavar="ID", help="continue (or start) the conversation ID")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead")
    ask.add_argument(
        "--eyes", action="store_true", help="look at the screen for this turn (the VLM sees it)"
    )
    ask.add_argument("--speak", action="store_true", help="say the reply aloud (Fish Speech)")
    ask.add_argument(
        "--listen", action="store_true", help="say it instead: record one utterance and ask that"
    )
    from ._hearing_commands import add_hearing_commands, add_language_flag

    add_language_flag(ask)

    look = commands.add_parser(
        "look", parents=[common], help="capture the screen now and print what the VLM sees"
    )
    look.add_argument("--json", action="store_true", help="print one JSON object instead")

    threads = commands.add_parser("threads", parents=[common], help="list conversations")
    threads.add_argument("--json", action="store_true", help="print JSON")

    show = commands.add_parser("show", parents=[common], help="print one conversation")
    show.add_argument("thread_id", metavar="THREAD_ID")
    show.add_argument("--json", action="store_true", help="print JSON")

    from ._memory_commands import add_memory_commands

    add_memory_commands(commands, common)

    from ._voice_commands import add_voice_commands

    add_voice_commands(commands, common)

    add_hearing_commands(commands, common)

    from ._serve import add_serve_command

    add_serve_command(commands, common)

    from ._store_commands import add_store_commands

    add_store_commands(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``termmate ARGV`` (default: the process's arguments); returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    problem = _not_utf8(arguments)
    if problem is not None:
        print(f"termmate: {problem}", file=sys.stderr)
        return _exit.USAGE
    args = build_parser().parse_args(arguments)
    from config import private_umask  # (after parsing: --help need not load the settings)

    private_umask()  # before any file is made: all termmate creates is the user's alone
    try:
        if args.command is None:
            from .app import run_tui

            return run_tui(getattr(args, "config", None), overrides_from(args))
        from ._output import safe_output

        with safe_output(data_on_stdout=_writes_data(args)):
            return _run_command(args)
    except KeyboardInterrupt:  # Ctrl+C before a command's own handling took over
        print("termmate: interrupted", file=sys.stderr)
        return _exit.INTERRUPTED


def _run_command(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit(args)
    from ._logging import setup_logging

    setup_logging(settings.log_file)
    if args.command == "ask":
        from ._ask import run_ask

        return run_ask(settings, args)
    if args.command == "look":
        from ._look import run_look

        return run_look(settings, as_json=args.json)
    if args.command in ("say", "voice"):
        from ._voice_commands import run_say, run_voice

        return (run_say if args.command == "say" else run_voice)(settings, args)
    if args.command == "memory":
        from ._memory_commands import run_memory

        return run_memory(settings, args)
    if args.command == "transcribe":
        from ._hearing_commands import run_transcribe

        return run_transcribe(settings, args)
    if args.command == "serve":
        from ._serve import run_serve

        return run_serve(settings)
    if args.command == "store":
        from ._store_commands import run_store

        return run_store(settings, args)
    from ._thread_commands import run_show, run_threads

    if args.command == "threads":
        return run_threads(settings, as_json=args.json)
    return run_show(settings, args.thread_id, as_json=args.json)


def _not_utf8(arguments: Sequence[str]) -> str | None:
    """What is wrong with an argument that was not valid UTF-8 on the command line (Python
    keeps such bytes as lone surrogates, which fail later, far from their cause)."""
    for number, argument in enumerate(arguments, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (
                f"argument {number} is not valid UTF-8 text (at character {exc.start + 1}); "
                "check the encoding of the terminal or script that passed it"
            )
    return None


def _writes_data(args: argparse.Namespace) -> bool:
    """Whether the command's stdout is data (JSON, an export), not text for a person."""
    if getattr(args, "json", False) or args.command == "serve":  # serve: the ready line
        return True
    return args.command == "memory" and args.memory_command == "export" and args.file == "-"


if __name__ == "__main__":
    sys.exit(main())
