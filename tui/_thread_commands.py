"""``termmate threads`` and ``termmate show``: read conversations without loading any model."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from config import Settings

from . import _exit
from ._signals import run_command


def _run(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run ``work(store)`` (store None when there are no conversations yet); a store that
    cannot be read is a clear error (exit 1; 2 for settings to change), not a traceback."""

    async def main() -> int:
        from agent.errors import StartupError
        from agent.threads import open_threads

        if not settings.store.shared and not settings.threads_db.exists():
            return await work(None)  # nothing to read, and nothing is created for it
        try:
            store = await open_threads(settings)
        except StartupError as exc:  # a damaged file, an unreachable database
            return _fail(exc.reason, exc.exit_code)
        except (OSError, sqlite3.Error) as exc:
            return _fail(f"cannot read conversations from {settings.threads_db}: {exc}")
        try:
            return await work(store)
        except StartupError as exc:  # CorruptData, or the database went away meanwhile
            return _fail(exc.reason, exc.exit_code)
        finally:
            await store.aclose()

    return run_command(main)


def _fail(reason: str, code: int = _exit.FAILURE) -> int:
    print(f"termmate: {reason}", file=sys.stderr)
    return code


def run_threads(settings: Settings, *, as_json: bool) -> int:
    async def work(store: Any) -> int:
        return _print_threads(await store.list(settings.user_id) if store else [], as_json=as_json)

    return _run(settings, work)


def _print_threads(threads: list[Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps([t.as_dict() for t in threads], ensure_ascii=False, indent=2))
        return _exit.OK
    if not threads:
        print("No conversations yet. Start one with: termmate  (or termmate ask TEXT)")
        return _exit.OK
    width = max(len(t.thread_id) for t in threads)
    for t in threads:
        when = t.updated_at.replace("T", " ")[:16]
        turns = f"{t.turns} turn" + ("" if t.turns == 1 else "s")
        print(f"{t.thread_id:<{width}}  {when}  {turns:>9}  {t.title}")
    return _exit.OK


def run_show(settings: Settings, thread_id: str, *, as_json: bool) -> int:
    async def work(store: Any) -> int:
        if store is None:
            return _print_thread(thread_id, None, [], as_json=as_json)
        info = await store.get(thread_id, user_id=settings.user_id)
        messages = await store.messages(thread_id) if info is not None else []
        return _print_thread(thread_id, info, messages, as_json=as_json)

    return _run(settings, work)


def _print_thread(thread_id: str, info: Any, messages: list[Any], *, as_json: bool) -> int:
    if info is None:
        print(
            f"termmate: no conversation {thread_id!r}; `termmate threads` lists them",
            file=sys.stderr,
        )
        return _exit.USAGE
    if as_json:
        from agent.threads import shown_as_json

        payload = shown_as_json(thread_id, info.title, messages)
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return _exit.OK
    print(f"# {info.title}  ({thread_id})\n")
    for m in messages:
        who = "you" if m["role"] == "user" else "termmate"
        stopped = "  [stopped]" if m.get("stopped") else ""
        print(f"[{m['created_at'].replace('T', ' ')[:19]}] {who}{stopped}:\n{m['content']}\n")
    return _exit.OK
