"""``termmate memory …``: list, search, add, edit, delete, clean up, export, import, reindex.

While the TUI runs, these talk to its memory store (the TUI owns it); otherwise they open the
store themselves. Only argparse is imported up front, so ``termmate --help`` stays quick.

Exit codes: 0 done, 2 a usage or settings error (unknown id, bad file, bad input), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from . import _exit
from ._progress import terminal_downloads
from ._signals import run_command

TIERS = ("fresh", "old", "all")


def add_memory_commands(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """Add ``memory`` and its actions to ``commands`` (the ``termmate`` subparsers)."""
    memory = commands.add_parser(
        "memory", parents=[common], help="see and change what termmate remembers about you"
    )
    actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="list your memories")
    listing.add_argument("--tier", choices=TIERS, default="all", help="which tier (default: all)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    search = actions.add_parser("search", parents=[common], help="find memories by meaning")
    search.add_argument("query", nargs="+", metavar="QUERY")
    search.add_argument("--limit", type=int, default=None, metavar="K", help="how many (1-50)")
    search.add_argument("--json", action="store_true", help="print a JSON array, best first")

    add = actions.add_parser("add", parents=[common], help="remember something")
    add.add_argument("text", nargs="+", metavar="TEXT")
    add.add_argument("--category", "-c", required=True, metavar="C", help="e.g. preferences")

    edit = actions.add_parser("edit", parents=[common], help="change a memory's text")
    edit.add_argument("memory_id", metavar="ID", help="the id (or its first characters)")
    edit.add_argument("text", nargs="+", metavar="TEXT")
    edit.add_argument("--category", "-c", metavar="C", help="also change its category")

    delete = actions.add_parser("delete", parents=[common], help="forget a memory")
    delete.add_argument("memory_id", metavar="ID", help="the id (or its first characters)")

    cleanup = actions.add_parser(
        "cleanup", parents=[common], help="move memories not updated for a while to the old tier"
    )
    cleanup.add_argument(
        "--days", type=int, default=None, metavar="N", help="default: memory.fresh_days (30)"
    )

    export = actions.add_parser("export", parents=[common], help="write memories as JSON lines")
    export.add_argument("file", metavar="FILE", help="where to write ('-' for standard output)")

    importing = actions.add_parser("import", parents=[common], help="read JSON lines back")
    importing.add_argument("file", metavar="FILE", help="a file written by export")

    actions.add_parser(
        "reindex",
        parents=[common],
        help="re-embed every memory with the current embedding model",
    )
    return memory


def run_memory(settings: Any, args: argparse.Namespace) -> int:
    """Run ``termmate memory ACTION`` with ``settings``; returns the exit code."""
    from agent.memory.errors import MemoryStoreError

    handler = _HANDLERS[args.memory_command]
    try:
        return run_command(
            lambda: _with_service(settings, lambda memory: handler(memory, settings, args))
        )
    except MemoryStoreError as exc:
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.USAGE if exc.user_error else _exit.FAILURE
    except _UsageError as exc:
        print(f"termmate: {exc}", file=sys.stderr)
        return _exit.USAGE


class _UsageError(Exception):
    """A mistake in what the user typed or gave (exit 2)."""


async def _with_service(settings: Any, work: Callable[[Any], Awaitable[int]]) -> int:
    from agent.memory.service import with_memory

    async def checked(memory: Any) -> int:
        status = memory.status
        if status.state == "error" and memory.role == "none":
            from agent.memory.errors import MemoryUnavailable

            raise MemoryUnavailable(status.detail)
        return await work(memory)

    return await with_memory(settings, checked, downloads=terminal_downloads())


# -- the actions -----------------------------------------------------------------------------


async def _list(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    records = await memory.list(user_id=settings.user_id, tier=args.tier)
    if args.json:
        _print_json([r.as_json() for r in records])
        return _exit.OK
    if not records:
        where = "" if args.tier == "all" else f" in the {args.tier} tier"
        print(f"No memories{where} yet.")
        return _exit.OK
    for record in records:
        print(_line(record))
    return _exit.OK


async def _search(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    if args.limit is not None and not 1 <= args.limit <= 50:
        raise _UsageError("--limit must be between 1 and 50")
    query = " ".join(args.query).strip()
    if not query:
        raise _UsageError("the search query is empty")
    result = await memory.search(query, user_id=settings.user_id, k=args.limit)
    if args.json:
        _print_json([hit.as_json() for hit in result.hits])
        return _exit.OK
    if not result.hits:
        print("Nothing found.")
    for hit in result.hits:
        print(f"{hit.score:5.2f}  {_line(hit)}")
    return _exit.OK


async def _add(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    outcome = await memory.add(
        " ".join(args.text), user_id=settings.user_id, category=args.category
    )
    verb = "remembered" if outcome.created else "already remembered"
    print(f"{verb}: {_line(outcome.record)}")
    return _exit.OK


async def _edit(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    outcome = await memory.update(
        args.memory_id, user_id=settings.user_id, text=" ".join(args.text), category=args.category
    )
    print(f"updated: {_line(outcome.record)}")
    return _exit.OK


async def _delete(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    record = await memory.delete(args.memory_id, user_id=settings.user_id)
    print(f"forgot: {_line(record)}")
    return _exit.OK


async def _cleanup(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    if args.days is not None and args.days < 1:
        raise _UsageError("--days must be at least 1")
    report = await memory.cleanup(user_id=settings.user_id, days=args.days)
    noun = "memory" if report.moved == 1 else "memories"
    print(
        f"moved {report.moved} {noun} not updated for {report.days} days to the old tier "
        f"({report.kept} stay fresh)"
    )
    return _exit.OK


async def _export(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    records = await memory.list(user_id=settings.user_id, tier="all")
    lines = [json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in records]
    if args.file == "-":
        sys.stdout.writelines(lines)
        return _exit.OK
    target = Path(args.file).expanduser()
    partial = target.with_name(target.name + ".part")
    try:
        partial.write_text("".join(lines), encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"exported {len(records)} memories to {target}", file=sys.stderr)
    return _exit.OK


async def _import(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    items = read_import_file(Path(args.file).expanduser())
    report = await memory.import_items(items, user_id=settings.user_id)
    print(f"imported {report.added} memories ({report.skipped} already known)")
    return _exit.OK


async def _reindex(memory: Any, settings: Any, args: argparse.Namespace) -> int:
    report = await memory.reindex()
    print(f"reindexed {report.count} memories with {report.model} ({report.dims} dimensions)")
    return _exit.OK


_HANDLERS: dict[str, Callable[[Any, Any, argparse.Namespace], Awaitable[int]]] = {
    "list": _list,
    "search": _search,
    "add": _add,
    "edit": _edit,
    "delete": _delete,
    "cleanup": _cleanup,
    "export": _export,
    "import": _import,
    "reindex": _reindex,
}


# -- helpers -----------------------------------------------------------------------------------


def read_import_file(path: Path) -> list[Any]:
    """Every line of a JSON-lines file as an ImportItem; the first bad line stops everything."""
    from pydantic import ValidationError

    from agent.memory.schemas import ImportItem

    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _UsageError(f"no file {path}") from None
    except UnicodeDecodeError:
        raise _UsageError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    items = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(ImportItem.model_validate_json(line))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "line"
            raise _UsageError(
                f"{path}:{number}: {where}: {error['msg']}. Each line must be a JSON object "
                'like {"text": "…", "category": "…"} (as `termmate memory export` writes); '
                "nothing was imported"
            ) from None
    return items


def _line(record: Any) -> str:
    when = record.updated_at.replace("T", " ")[:16]
    return f"{record.id[:8]}  {record.tier:<5}  {when}  [{record.category}]  {record.text}"


def _print_json(payload: Sequence[Any]) -> None:
    print(json.dumps(list(payload), ensure_ascii=False, indent=2))
