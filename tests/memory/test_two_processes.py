"""Two real processes on one store: the owner (as the TUI) and `termmate memory …` beside it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from agent.memory.engine import MemoryEngine
from tests.memory.conftest import USER, memory_settings, subprocess_env
from tests.support.cli import ROOT, Run, run_termmate
from tests.support.word_embedder import WordOverlapEmbedder

STALE = 150


def _cli(settings, *args: str) -> Run:
    return run_termmate(subprocess_env(settings), "memory", *args)


def _start_owner(settings, stale: int) -> subprocess.Popen[str]:
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.memory.owner_process", str(settings.data_dir), str(stale)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=subprocess_env(settings),
    )
    assert owner.stdout is not None
    for line in owner.stdout:
        if line.strip() == "ready":
            return owner
    raise AssertionError(f"the owner process did not start (exit {owner.wait()})")


def _stop_owner(owner: subprocess.Popen[str]) -> list[tuple[str, str]]:
    """Stop the owner; returns its ("added" | "moved" | …, id) events in order."""
    assert owner.stdout is not None and owner.stdin is not None
    owner.stdin.write("stop\n")
    owner.stdin.flush()
    events = []
    for line in owner.stdout:
        if line.startswith("event "):
            _, action, point_id = line.split()
            events.append((action, point_id))
        if line.strip() == "closed":
            break
    assert owner.wait(timeout=60) == 0
    return events


async def test_a_cleanup_while_another_process_adds_loses_nothing(tmp_path) -> None:
    settings = memory_settings(tmp_path / "data")
    owner = _start_owner(settings, STALE)
    try:
        cleanup = await asyncio.to_thread(_cli, settings, "cleanup", "--days", "30")
    finally:
        events = _stop_owner(owner)

    assert cleanup.returncode == 0, cleanup.stderr
    assert f"moved {STALE} memories" in cleanup.stdout
    assert "Traceback" not in cleanup.stderr
    actions = [action for action, _ in events]
    first_move, last_move = actions.index("moved"), len(actions) - 1 - actions[::-1].index("moved")
    assert "added" in actions[first_move:last_move], "the adds did not overlap the cleanup"
    added = {point_id for action, point_id in events if action == "added"}

    engine = MemoryEngine(settings, WordOverlapEmbedder())
    await engine.open()
    try:
        records = await engine.list(user_id=USER)
        old = {r.text for r in records if r.tier == "old"}
        fresh = {r.id for r in records if r.tier == "fresh"}
        assert len(records) == STALE + len(added)
        assert old == {f"old memory number {i}" for i in range(STALE)}
        assert fresh == added
    finally:
        await engine.aclose()


async def test_cli_commands_reach_the_owners_store_while_it_runs(tmp_path) -> None:
    settings = memory_settings(tmp_path / "data")
    owner = _start_owner(settings, 0)
    try:
        add = await asyncio.to_thread(
            _cli, settings, "add", "The user plays the cello", "--category", "Music"
        )
        found = await asyncio.to_thread(_cli, settings, "search", "cello", "--json")
        listed = await asyncio.to_thread(_cli, settings, "list", "--json")
    finally:
        events = _stop_owner(owner)
    assert add.returncode == 0, add.stderr
    assert "remembered" in add.stdout
    assert json.loads(found.stdout)[0]["text"] == "The user plays the cello"
    records = {r["text"]: r for r in json.loads(listed.stdout)}
    cello = records["The user plays the cello"]
    assert cello["category"] == "music"
    assert ("added", cello["id"]) in events  # the owner saw the other process's write
