"""``termmate store …``: where conversations and memories live (status), and moving this data
dir's embedded stores into PostgreSQL (migrate).

The work is the core's (agent.migrate, agent.store_status); this shows progress on stderr (a
bar on a terminal, a line now and then otherwise), prints the outcome and picks the exit code:
0 done, 2 a usage or settings error (a malformed URL), 1 otherwise (an unreachable database,
a running termmate holding the memory store, a conversation left behind).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import _exit
from ._signals import run_command

_EXAMPLE_URL = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


def add_store_commands(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """Add ``store`` and its actions to ``commands`` (the ``termmate`` subparsers)."""
    store = commands.add_parser(
        "store",
        parents=[common],
        help="where conversations and memories live; move them into PostgreSQL",
    )
    actions = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status", parents=[common], help="where the data lives, and how much of it there is"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    migrate = actions.add_parser(
        "migrate",
        parents=[common],
        help="copy this data dir's conversations, memories and vocabulary into PostgreSQL",
    )
    migrate.add_argument(
        "--to",
        dest="store_url",
        metavar="URL",
        help=f"the database, {_EXAMPLE_URL} (default: store.url); the password may also come "
        "from PGPASSWORD or ~/.pgpass",
    )
    return store


def run_store(settings: Any, args: argparse.Namespace) -> int:
    """Run ``termmate store ACTION``; returns the exit code. For ``migrate``, ``settings``
    carry the target in ``store.url`` (``--to``, see _args.overrides_from)."""
    if args.store_command == "status":
        return run_command(lambda: _status(settings, as_json=args.json))
    return run_command(lambda: _migrate(settings))


# -- status --------------------------------------------------------------------------------------


async def _status(settings: Any, *, as_json: bool) -> int:
    from agent.errors import StartupError
    from agent.store_status import store_status

    try:
        status = await store_status(settings)
    except StartupError as exc:  # the database cannot be reached
        return _fail(exc.reason, exc.exit_code)
    except OSError as exc:
        return _fail(f"cannot read the stores in {settings.data_dir}: {exc}")
    if as_json:
        print(json.dumps(status.as_json(), ensure_ascii=False, indent=2))
        return _exit.OK
    if status.backend == "embedded":
        print(f"embedded, in {status.where}")
    else:
        versions = f"PostgreSQL {status.server_version}, pgvector {status.vector_version or '-'}"
        print(f"{status.where} ({versions})")
    memories = status.memories
    rows = [
        ("conversations", f"{status.threads:,}", "threads"),
        (
            "memories",
            f"{sum(memories.values()):,} ({memories['fresh']:,} fresh, {memories['old']:,} old)",
            "memories",
        ),
        ("vocabulary", f"{status.terms:,} terms", "terms"),
    ]
    for name, count, key in rows:
        where = f"  {status.files[key]}" if key in status.files else ""
        print(f"  {name:<14} {count}{where}")
    return _exit.OK


# -- migrate -------------------------------------------------------------------------------------


async def _migrate(settings: Any) -> int:
    from agent.errors import StartupError
    from agent.memory.errors import MemoryStoreError
    from agent.migrate import migrate

    if not settings.store.shared:
        return _fail(
            f"say which database to copy into: termmate store migrate --to {_EXAMPLE_URL}",
            _exit.USAGE,
        )
    url = settings.store.url.get_secret_value()
    try:
        with _MigrationProgress() as progress:
            report = await migrate(settings, progress.show)
    except StartupError as exc:  # an unreachable database, a damaged threads file
        return _fail(exc.reason, exc.exit_code)
    except MemoryStoreError as exc:  # termmate running, another vector size, a broken store
        return _fail(exc.reason, _exit.USAGE if exc.user_error else _exit.FAILURE)
    except (OSError, sqlite3.Error) as exc:  # a file of the data dir that cannot be read
        return _fail(f"cannot read the stores in {settings.data_dir}: {exc}")
    _print_report(report, settings, url)
    for problem in report.problems:
        print(f"termmate: {problem}", file=sys.stderr)
    return _exit.FAILURE if report.problems else _exit.OK


def _print_report(report: Any, settings: Any, url: str) -> None:
    print(f"Copied into the {report.where}:")
    print(f"  conversations  {_tally(report.threads)}")
    for tier, tally in report.memories.items():
        print(f"  memories {tier:<5} {_tally(tally)}")
    print(f"  vocabulary     {_tally(report.terms)}")
    shown = shown_url(url)
    config = settings.config_file or "settings.toml"
    print(
        f"\nThe files in {settings.data_dir} are as they were. To use the database, set\n"
        f"  TERMMATE_STORE__URL='{shown}'\n"
        f"or in {config}:\n"
        f'  [store]\n  url = "{shown}"'
    )
    if "***" in shown:
        print("(with the password where *** is)")


def _tally(tally: Any) -> str:
    return f"{tally.copied:,} copied, {tally.already:,} already there"


def shown_url(url: str) -> str:
    """``url`` with its password (and any secret query value) replaced by ``***``: the user
    name, host and database stay, so the line can be copied and the password put back."""
    from config import redact_url

    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    redacted = urlsplit(redact_url(url))  # no user info, *** for secret query values
    if not at:
        return urlunsplit(redacted)
    user, _, password = userinfo.partition(":")
    return urlunsplit(redacted._replace(netloc=f"{user}{':***' if password else ''}@{host}"))


class _MigrationProgress:
    """Progress on stderr: rich bars on a terminal; elsewhere a line ("copied N/M threads")
    whenever another tenth is done, and at the end."""

    def __init__(self) -> None:
        from ._output import raw_stream

        self._stream = raw_stream(sys.stderr)
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._shown: dict[str, int] = {}

    def __enter__(self) -> _MigrationProgress:
        if self._stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bars = Progress(
                TextColumn("copying {task.description:<9}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(file=self._stream),
                transient=False,
            )
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def show(self, what: str, done: int, total: int) -> None:
        """``done`` of ``total`` ``what`` ("threads", "terms", "memories") copied."""
        if self._bars is not None:
            if what not in self._tasks:
                self._tasks[what] = self._bars.add_task(what, total=total)
            self._bars.update(self._tasks[what], completed=done, total=total)
            return
        tenth = done * 10 // max(total, 1)
        if tenth == self._shown.get(what) and done < total:
            return
        self._shown[what] = tenth
        try:
            self._stream.write(f"copied {done:,}/{total:,} {what}\n")
            self._stream.flush()
        except (OSError, ValueError):  # stderr is gone: the copy goes on
            pass


def _fail(reason: str, code: int = _exit.FAILURE) -> int:
    print(f"termmate: {reason}", file=sys.stderr)
    return code
