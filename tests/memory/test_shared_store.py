"""A memory store in PostgreSQL (``[store] url``), shared by several processes that each open it
themselves: what one writes the others find and hear of, cleanup and writes in different
processes lose nothing, a reindex in one holds back the writes of all, one text is stored once
however many processes add it at once, and the database's problems are clear errors.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from agent.memory import pg_tiers
from agent.memory.engine import MemoryEngine
from agent.memory.errors import MemoryUnavailable
from agent.memory.events import MemoryChanged
from agent.memory.pg_changes import CHANNEL
from agent.memory.pg_vectors import table_of
from agent.memory.service import MemoryService
from agent.memory.timestamps import format_utc, now_utc
from agent.postgres import advisory_key
from config import Settings
from tests.memory.conftest import USER, memory_settings, subprocess_env
from tests.support.cli import ROOT, run_termmate
from tests.support.holding_embedder import HoldingEmbedder
from tests.support.postgres import PostgresServer
from tests.support.stores import Store, postgres_only
from tests.support.waiting import eventually
from tests.support.word_embedder import WordOverlapEmbedder

pytestmark = postgres_only


@pytest.fixture
def shared(tmp_path: Path, backend: Store) -> Settings:
    """Settings for a store in a new, empty PostgreSQL database."""
    return memory_settings(tmp_path / "data", store={"url": backend.url})


@pytest.fixture
async def engine(shared: Settings) -> AsyncIterator[MemoryEngine]:
    opened = MemoryEngine(shared, WordOverlapEmbedder())
    await opened.open()
    yield opened
    await opened.aclose()


class Peer:
    """Another termmate process on the same database (tests/memory/shared_process.py)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, settings: Settings) -> Peer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.memory.shared_process",
            str(settings.data_dir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=subprocess_env(settings),
        )
        peer = cls(process)
        await peer.line(lambda line: line == "ready", timeout_s=60, what="the peer to start")
        return peer

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            self.lines.append(raw.decode().rstrip("\n"))

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    async def line(
        self, matches: Callable[[str], bool], timeout_s: float = 30, what: str = ""
    ) -> str:
        """The first line that ``matches`` (waiting for it, while the peer runs)."""

        def found() -> bool:
            if self.process.returncode is not None and self._reader.done():
                raise AssertionError(f"the peer exited ({self.process.returncode}): {self.lines}")
            return any(matches(line) for line in self.lines)

        await eventually(found, timeout_s=timeout_s, what=what or "a line from the peer")
        return next(line for line in self.lines if matches(line))

    async def stop(self) -> list[str]:
        """Close it; every line it printed."""
        if self.process.returncode is None:
            await self.send("stop")
            await asyncio.wait_for(self.process.wait(), 60)
        await self._reader
        return self.lines


def days_ago(days: int) -> str:
    return format_utc(now_utc() - timedelta(days=days))


def _waiting_advisory_locks(backend: Store, key: int | None = None) -> int:
    """How many advisory lock requests (on ``key``, or any) wait in the database now."""
    unsigned = None if key is None else key & 0xFFFF_FFFF_FFFF_FFFF
    rows = backend.sql(
        "SELECT classid::bigint, objid::bigint FROM pg_locks "
        "WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return sum(1 for high, low in rows if unsigned is None or (high << 32 | low) == unsigned)


async def _collect(memory: MemoryService, into: list[MemoryChanged]) -> None:
    async for change in memory.changes():
        into.append(change)


# -- one store, many processes ----------------------------------------------------------------


async def test_a_memory_added_through_one_process_is_found_and_heard_through_another(
    shared: Settings,
) -> None:
    local = MemoryService(shared, embedder=WordOverlapEmbedder())
    await local.start()
    heard: list[MemoryChanged] = []
    watcher = asyncio.create_task(_collect(local, heard))
    peer = await Peer.start(shared)
    try:
        assert local.role == "shared", local.status
        mine = await local.add("The user plays the cello", user_id=USER, category="music")
        line = await peer.line(lambda line: line.startswith(f"event added user {mine.record.id}"))
        assert line.endswith("The user plays the cello")  # the other process heard of it
        await peer.send("search which instrument does the user play, the cello?")
        assert await peer.line(lambda line: line.startswith("found ")) == (
            f"found {mine.record.id} The user plays the cello"
        )

        await peer.send("remember The user's cat is called Nabi")
        theirs = (await peer.line(lambda line: line.startswith("added "))).split()[1]
        await eventually(lambda: any(e.memory_id == theirs for e in heard), what="their change")
        [change] = [e for e in heard if e.memory_id == theirs]
        assert (change.action, change.text, change.tier) == (
            "added",
            "The user's cat is called Nabi",
            "fresh",
        )
        found = await local.search("the cat is called Nabi", user_id=USER)
        assert found.hits[0].id == theirs
        # Its own change reached this process once: not a second time from the database.
        assert [e.memory_id for e in heard].count(mine.record.id) == 1
    finally:
        await peer.stop()
        watcher.cancel()
        await local.aclose()


STALE = 120


async def test_a_cleanup_while_another_process_adds_and_updates_loses_nothing(
    shared: Settings, engine: MemoryEngine
) -> None:
    stale = []
    for i in range(STALE):
        added = await engine.add(
            text=f"old memory number {i}", user_id=USER, updated_at=days_ago(40 + i)
        )
        stale.append(added.record.id)
    peer = await Peer.start(shared)
    try:
        # It adds without pause and updates stale memories, some before cleanup reaches them,
        # some after it moved them, some while it moves them.
        await peer.send("churn " + ",".join(stale[::2]))
        await peer.line(lambda line: line.startswith("updated "), what="the peer to write")
        report = await engine.cleanup(user_id=USER, days=30)
        count = len(peer.lines)
        await peer.line(
            lambda line: line.startswith("added ") and peer.lines.index(line) > count,
            what="the peer to go on writing",
        )
    finally:
        lines = await peer.stop()

    assert not [line for line in lines if line.startswith("error ")]
    added = {line.split()[1] for line in lines if line.startswith("added ")}
    updated = {line.split()[1] for line in lines if line.startswith("updated ")}
    actions = [line.split()[1] for line in lines if line.startswith("event ")]
    moves = [i for i, action in enumerate(actions) if action == "moved"]
    assert "added" in actions[moves[0] : moves[-1]], "the writes did not overlap the cleanup"
    assert STALE - len(updated) <= report.moved <= STALE

    records = {r.id: r for r in await engine.list(user_id=USER)}
    fresh = {r.id for r in await engine.list(user_id=USER, tier="fresh")}
    old = {r.id for r in await engine.list(user_id=USER, tier="old")}
    assert set(records) == set(stale) | added  # nothing lost
    assert not fresh & old  # nothing in both tiers
    assert len({r.text for r in records.values()}) == len(records)  # nothing twice
    for i, point_id in enumerate(stale):
        record = records[point_id]
        if point_id in updated:  # the update won, wherever cleanup had put it
            assert (record.text, record.tier) == (f"updated memory {point_id}", "fresh")
        else:
            assert (record.text, record.tier) == (f"old memory number {i}", "old")
    assert {records[point_id].tier for point_id in added} == {"fresh"}


async def test_a_reindex_in_one_process_holds_back_the_writes_of_another_until_done(
    shared: Settings, backend: Store
) -> None:
    embedder = HoldingEmbedder()
    engine = MemoryEngine(shared, embedder)
    await engine.open()
    peer = await Peer.start(shared)
    try:
        for text in ("The user likes green tea", "The user's cat is called Nabi"):
            await engine.add(text=text, user_id=USER)
        reembedding = embedder.hold("Nabi")
        reindex = asyncio.create_task(engine.reindex())
        await asyncio.wait_for(reembedding.entered.wait(), 10)  # the snapshot is taken

        await peer.send("remember The user plays the violin")
        gate = advisory_key("memory-writes")
        await eventually(
            lambda: _waiting_advisory_locks(backend, gate) == 1, what="the peer's write to wait"
        )
        assert not [line for line in peer.lines if line.startswith("added ")]
        reembedding.release()
        report = await asyncio.wait_for(reindex, 30)
        violin = (await peer.line(lambda line: line.startswith("added "))).split()[1]

        assert report.count == 2
        texts = {r.id: r.text for r in await engine.list(user_id=USER)}
        assert texts[violin] == "The user plays the violin"  # not wiped by the rebuild
        assert len(texts) == 3
    finally:
        await peer.stop()
        await engine.aclose()


async def test_one_text_added_by_two_processes_at_once_is_stored_once(
    shared: Settings, backend: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = (MemoryEngine(shared, WordOverlapEmbedder()) for _ in range(2))
    await first.open()
    await second.open()
    entered, release = threading.Event(), threading.Event()
    add_point = first.store.add_point

    def held(*args, **kwargs):  # the first add stops between its check and its insert
        entered.set()
        release.wait(30)
        return add_point(*args, **kwargs)

    monkeypatch.setattr(first.store, "add_point", held)
    try:
        one = asyncio.create_task(first.add(text="The user likes jazz", user_id=USER))
        await eventually(entered.is_set, what="the first add to check")
        two = asyncio.create_task(second.add(text="The user likes jazz", user_id=USER))
        await eventually(
            lambda: two.done() or _waiting_advisory_locks(backend) == 1,
            what="the second add to wait for the first",
        )
        release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(one, two), 30)
        assert [outcome.created for outcome in outcomes] == [True, False]
        assert outcomes[0].record.id == outcomes[1].record.id
        assert len(await second.list(user_id=USER)) == 1
    finally:
        release.set()
        await first.aclose()
        await second.aclose()


# -- moving between tiers while another process writes ---------------------------------------


@pytest.fixture
async def two_engines(shared: Settings) -> AsyncIterator[tuple[MemoryEngine, MemoryEngine]]:
    """Two stores on one database, as two processes have them."""
    engines = (
        MemoryEngine(shared, WordOverlapEmbedder()),
        MemoryEngine(shared, WordOverlapEmbedder()),
    )
    for engine in engines:
        await engine.open()
    yield engines  # type: ignore[misc]
    for engine in engines:
        await engine.aclose()


async def test_cleanup_leaves_a_memory_that_was_updated_after_it_was_found_stale(
    two_engines: tuple[MemoryEngine, MemoryEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    cleaner, writer = two_engines
    stale = await cleaner.add(text="The user visited Busan", user_id=USER, updated_at=days_ago(90))
    loop = asyncio.get_running_loop()
    is_stale = pg_tiers.is_stale

    def updated_meanwhile(payload, cutoff) -> bool:
        found = is_stale(payload, cutoff)
        if payload.get("data") == "The user visited Busan":  # cleanup read it: stale
            change = writer.update(memory_id=stale.record.id, user_id=USER, text="Busan again")
            asyncio.run_coroutine_threadsafe(change, loop).result(30)
        return found

    monkeypatch.setattr(pg_tiers, "is_stale", updated_meanwhile)
    report = await cleaner.cleanup(user_id=USER, days=30)

    assert report.moved == 0
    record = await cleaner.get(memory_id=stale.record.id, user_id=USER)
    assert (record.text, record.tier) == ("Busan again", "fresh")


@pytest.mark.parametrize("change", ["update", "delete"])
async def test_a_change_finds_a_memory_that_another_process_moved_meanwhile(
    two_engines: tuple[MemoryEngine, MemoryEngine], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    cleaner, writer = two_engines
    added = await writer.add(text="The user visited Jeju", user_id=USER)
    tier = writer.store.vectors("fresh")
    write = getattr(tier, change)

    def moved_first(*args, **kwargs):  # cleanup elsewhere moves it as this write begins
        cleaner.store.move(added.record.id, "fresh", "old")
        return write(*args, **kwargs)

    monkeypatch.setattr(tier, change, moved_first)
    if change == "update":
        outcome = await writer.update(memory_id=added.record.id, user_id=USER, text="Jeju again")
        assert outcome.applied
        assert (outcome.record.text, outcome.record.tier) == ("Jeju again", "fresh")
        assert [r.text for r in await cleaner.list(user_id=USER)] == ["Jeju again"]
    else:
        await writer.delete(memory_id=added.record.id, user_id=USER)
        assert await cleaner.list(user_id=USER) == []


# -- changes between processes ----------------------------------------------------------------


LISTENERS = (
    f"FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN {CHANNEL}'"
)
"""termmate's listening sessions (a listening session's last statement is its LISTEN)."""


async def test_changes_arrive_whole_and_keep_arriving_after_the_listening_connection_drops(
    shared: Settings, backend: Store
) -> None:
    writer, reader = (MemoryService(shared, embedder=WordOverlapEmbedder()) for _ in range(2))
    await writer.start()
    await reader.start()
    heard: list[MemoryChanged] = []
    watcher = asyncio.create_task(_collect(reader, heard))
    try:
        long = "🐈" * 2000  # 8000 bytes: more than one notification holds
        added = await writer.add(long, user_id=USER)
        await eventually(lambda: [e.text for e in heard] == [long], what="the long change")

        assert len(backend.sql(f"SELECT pid {LISTENERS}")) == 2
        backend.sql(f"SELECT pg_terminate_backend(pid) {LISTENERS}")
        await eventually(
            lambda: len(backend.sql(f"SELECT pid {LISTENERS}")) == 2, what="both to listen again"
        )
        await writer.delete(added.record.id, user_id=USER)
        await eventually(lambda: len(heard) == 2, what="the change after reconnecting")
        assert (heard[1].action, heard[1].memory_id) == ("deleted", added.record.id)
    finally:
        watcher.cancel()
        await writer.aclose()
        await reader.aclose()


async def test_changes_keep_arriving_after_a_reconnect_whose_recount_failed(
    shared: Settings, backend: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # As when PostgreSQL restarts under every process: the listening connection drops, and the
    # count taken after listening again loses its session too. The feed must keep trying.
    writer, reader = (MemoryService(shared, embedder=WordOverlapEmbedder()) for _ in range(2))
    await writer.start()
    await reader.start()
    heard: list[MemoryChanged] = []
    watcher = asyncio.create_task(_collect(reader, heard))
    try:
        added = await writer.add("The user likes tea", user_id=USER)
        await eventually(lambda: len(heard) == 1, what="the first change")
        assert backend.url is not None
        with (
            caplog.at_level(logging.WARNING, logger="agent.memory.pg_changes"),
            psycopg.connect(backend.url) as holder,  # its lock holds until it commits, at the end
        ):
            holder.execute(f"LOCK TABLE {table_of('fresh')} IN ACCESS EXCLUSIVE MODE")
            backend.sql(f"SELECT pg_terminate_backend(pid) {LISTENERS}")
            await eventually(
                lambda: len(backend.termmate_sessions(waiting_for_a_lock=True)) == 2,
                what="both to listen again and count the memories",
            )
            counting = backend.termmate_sessions(waiting_for_a_lock=True)
            backend.sql("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (counting,))
            await eventually(
                lambda: not set(counting) & set(backend.termmate_sessions()),
                what="the counts to fail",
            )
        await writer.delete(added.record.id, user_id=USER)
        await eventually(lambda: len(heard) == 2, what="the change after a failed recount")
        assert (heard[1].action, heard[1].memory_id) == ("deleted", added.record.id)
        failed = [r for r in caplog.records if "cannot count the memories" in r.getMessage()]
        assert failed and all(r.levelno == logging.WARNING for r in failed)
        assert shared.store.where in failed[0].getMessage()
    finally:
        watcher.cancel()
        await writer.aclose()
        await reader.aclose()


# -- reindex ----------------------------------------------------------------------------------


async def test_an_interrupted_reindex_leaves_the_shared_store_as_it_was(
    shared: Settings, backend: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = MemoryEngine(shared, WordOverlapEmbedder(32))
    await built.open()
    for text in ("The user likes green tea", "The user lives in Seoul"):
        await built.add(text=text, user_id=USER, category="life")
    before = await built.list(user_id=USER)
    await built.aclose()

    def power_cut(*args, **kwargs) -> None:
        raise RuntimeError("power cut")

    engine = MemoryEngine(shared, WordOverlapEmbedder(48))
    await engine.open()
    try:
        monkeypatch.setattr(pg_tiers, "copy_rows", power_cut)
        with pytest.raises(RuntimeError, match="power cut"):
            await engine.reindex()
        monkeypatch.undo()
        assert await engine.list(user_id=USER) == before  # readable, as it was
        assert "32-dimensional" in engine.status_now().detail  # still the old model's
        tables = backend.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert not [name for (name,) in tables if name.endswith("_rebuild")]

        assert (await engine.reindex()).dims == 48
        assert await engine.list(user_id=USER) == before
        found = await engine.search(query="the user lives in Seoul", user_id=USER, k=1)
        assert [hit.text for hit in found.hits] == ["The user lives in Seoul"]
    finally:
        await engine.aclose()


# -- the database's problems ------------------------------------------------------------------


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def test_a_database_that_goes_away_fails_the_call_with_a_reason_and_the_next_reconnects(
    tmp_path: Path, postgres: PostgresServer, backend: Store
) -> None:
    pg_url = backend.url
    assert pg_url is not None
    settings = memory_settings(tmp_path / "data", store={"url": pg_url, "connect_timeout_s": 1})
    memory = MemoryService(settings, embedder=WordOverlapEmbedder())
    await memory.start()
    name = _database_name(pg_url)
    try:
        await memory.add("The user likes tea", user_id=USER)
        with psycopg.connect(postgres.uri, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        with pytest.raises(MemoryUnavailable) as caught:
            await memory.search("tea", user_id=USER)
        assert f"database {name} on " in caught.value.reason

        with psycopg.connect(postgres.uri, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        found = await memory.search("tea", user_id=USER)
        assert [hit.text for hit in found.hits] == ["The user likes tea"]
    finally:
        with psycopg.connect(postgres.uri, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await memory.aclose()


def test_a_database_without_pgvector_that_the_user_may_not_create_says_exactly_that(
    postgres: PostgresServer, backend: Store, termmate_env: dict[str, str]
) -> None:
    pg_url = backend.url
    assert pg_url is not None
    password = "pw-7Hq2-zebra"
    role = f"plain_{_database_name(pg_url)}"
    with psycopg.connect(postgres.uri, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    parts = urlsplit(pg_url)
    url = urlunsplit(parts._replace(netloc=f"{role}:{password}@"))
    env = {**termmate_env, "TERMMATE_STORE__URL": url}

    run = run_termmate(env, "memory", "list")

    assert run.returncode == 1, run.stderr
    assert (
        f"has no `vector` extension, and the user {role} may not create it. Ask its "
        "administrator to run CREATE EXTENSION vector;"
    ) in run.stderr
    assert f"database {_database_name(pg_url)} on " in run.stderr
    assert "Traceback" not in run.stderr
    log = Path(env["TERMMATE_DATA_DIR"]) / "logs" / "termmate.log"
    shown = run.stdout + run.stderr + (log.read_text() if log.exists() else "")
    assert password not in shown
