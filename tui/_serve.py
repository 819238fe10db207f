"""``termmate serve``: the companion as an HTTP service (the ``server`` package does the work).

This module only adds the command line and turns the service's start-up problems into the
exit codes every termmate command uses. Importing it loads no Textual.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from config import Settings

from . import _exit


def add_serve_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """``termmate serve [--host H] [--port P]`` (plus the flags every command takes)."""
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="answer over HTTP for other front ends and many users (/v1/chat, /v1/voice, "
        "/health, /docs); prints one ready line on stdout",
    )
    serve.add_argument(
        "--host",
        default=argparse.SUPPRESS,
        help="address to listen on (default: [server] host, 127.0.0.1; any other address "
        "needs TERMMATE_SERVER__TOKEN)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=argparse.SUPPRESS,
        help="port to listen on (default: [server] port, 8000; 0 lets the OS choose, and the "
        "ready line says which)",
    )


def run_serve(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT (exit 0); 2 for settings that cannot be served, 1 for
    data that cannot be read or a database that cannot be used, as ``termmate ask`` says
    them."""
    from agent.errors import StartupError
    from server import ServeRefused, serve

    from ._logging import also_to_stderr

    also_to_stderr()
    try:
        serve(settings)
    except ServeRefused as exc:
        return _fail(exc.reason, _exit.USAGE)
    except StartupError as exc:  # CorruptData and StoreUnavailable say 1, settings 2
        return _fail(exc.reason, exc.exit_code)
    return _exit.OK


def _fail(reason: str, code: int) -> int:
    print(f"termmate: {reason}", file=sys.stderr)
    return code
