"""`termmate store migrate` and `termmate store status`, through the real command: a laptop's
data dir (conversations of two users, memories in both tiers, the vocabulary) moves into a real
PostgreSQL whole and reads the same there; a second run, or one after a run killed midway,
adds nothing twice; the embedded files are left as they were; a bad or unreachable database,
a running termmate and memories of another size are refused with one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from agent import Companion
from agent.events import TextDelta
from agent.memory.service import MemoryService
from agent.memory.timestamps import format_utc, now_utc
from config import load_settings
from tests.support.cli import ROOT, TERMMATE, Run, run_termmate
from tests.support.llama_server import free_port
from tests.support.postgres import PostgresServer
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.stores import Store
from tests.support.tiny_gguf import TinyModelSpec, write_tiny_gguf
from tests.support.waiting import eventually

PASSWORD = "hunter2-secret"
ROLE = "mover"
SEARCHES = [("alice", "Alice travelled to Jeju"), ("alice", "green tea"), ("bob", "Bob travelled")]
OWNERS = {"t-alice": "alice", "t-bob": "bob"}


@dataclass(frozen=True)
class Laptop:
    """A populated data dir, and the environment that points termmate at it."""

    data: Path
    env: dict[str, str]

    def run(self, *args: str, user: str = "alice", url: str | None = None) -> Run:
        """``termmate ARGS`` as ``user``, on the embedded stores or the database ``url``."""
        env = {**self.env, "TERMMATE_USER_ID": user}
        if url is not None:
            env["TERMMATE_STORE__URL"] = url
        return run_termmate(env, *args)

    def ok(self, *args: str, user: str = "alice", url: str | None = None) -> Run:
        run = self.run(*args, user=user, url=url)
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
        return run

    def migrate(self, url: str) -> Run:
        return self.run("store", "migrate", "--to", url)

    def views(self, url: str | None = None) -> dict[str, object]:
        """What each user sees: every search's answer, every conversation as `show` prints it."""
        searched = {
            f"{user}: {query}": self.ok(
                "memory", "search", query, "--json", user=user, url=url
            ).json()
            for user, query in SEARCHES
        }
        shown = {
            thread: self.ok("show", thread, "--json", user=owner, url=url).json()
            for thread, owner in OWNERS.items()
        }
        return {"searches": searched, "threads": shown}

    def status(self, url: str | None = None) -> dict:
        return self.ok("store", "status", "--json", url=url).json()


def _counts(status: dict) -> tuple:
    return status["threads"], status["memories"], status["terms"]


@pytest.fixture(scope="module")
def laptop_template(
    tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path, tiny_embed_gguf: Path
) -> Laptop:
    """Alice's and Bob's conversations (several turns, one reply stopped), their memories in
    both tiers (imported, then moved by cleanup), and a vocabulary term no memory uses."""
    root = tmp_path_factory.mktemp("laptop")
    env = {
        **os.environ,
        "TERMMATE_DATA_DIR": str(root / "data"),
        "TERMMATE_CONFIG": str(root / "settings.toml"),
        "TERMMATE_MODE": "offline",
        "TERMMATE_LOCAL__CHAT_MODEL": str(tiny_gguf),
        "TERMMATE_LOCAL__EMBED_MODEL": str(tiny_embed_gguf),
        "TERMMATE_MEMORY__ENABLED": "false",
        # Random weights give no meaning: without prefixes, the same text at least finds itself.
        "TERMMATE_MEMORY__EMBED_QUERY_PREFIX": "",
        "TERMMATE_MEMORY__EMBED_DOCUMENT_PREFIX": "",
    }
    laptop = Laptop(root / "data", env)
    _talk(env)
    ten_days_ago = format_utc(now_utc() - timedelta(days=10))
    memories = {
        "alice": [
            ("Alice drinks green tea every morning", "food", None),
            ("Alice has a cat called Nabi", "pets", None),
            ("Alice travelled to Jeju last spring", "travel", ten_days_ago),
            ("Alice travelled to Busan for work", "travel", ten_days_ago),
        ],
        "bob": [
            ("Bob plays the cello on weekends", "hobbies", None),
            ("Bob travelled to Seoul in winter", "travel", ten_days_ago),
        ],
    }
    for user, items in memories.items():
        lines = [
            json.dumps({"text": text, "category": category, "updated_at": when})
            for text, category, when in items
        ]
        file = root / f"{user}.jsonl"
        file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        laptop.ok("memory", "import", str(file), user=user)
        laptop.ok("memory", "cleanup", "--days", "5", user=user)  # the travels go to old
    added = laptop.ok("memory", "add", "Alice likes jazz", "-c", "music").stdout
    laptop.ok("memory", "delete", added.split()[1])  # "music" stays in the vocabulary
    return laptop


def _talk(env: dict[str, str]) -> None:
    """Alice's conversation of two turns; Bob's, whose first reply he stopped."""
    with ScriptedOpenAI() as scripted, pytest.MonkeyPatch.context() as patch:
        for key in ("TERMMATE_DATA_DIR", "TERMMATE_CONFIG"):
            patch.setenv(key, env[key])
        patch.setenv("TERMMATE_MODE", "online")
        patch.setenv("TERMMATE_LLM__URL", scripted.url)
        patch.setenv("TERMMATE_MEMORY__ENABLED", "false")
        scripted.script(
            Reply.of("Paris."),
            Reply.of("About", " two", " million."),
            Reply(words=words_of("Once upon a time " * 30), token_delay_s=0.05),
            Reply.of("A cat", " slept."),
        )

        async def talk() -> None:
            companion = await Companion.create(load_settings())
            try:
                for text in ("Capital of France?", "How many people?"):
                    [_ async for _ in companion.turn("t-alice", text, user_id="alice")]
                async for event in companion.turn("t-bob", "Tell me a story", user_id="bob"):
                    if isinstance(event, TextDelta):
                        companion.stop("t-bob")
                [_ async for _ in companion.turn("t-bob", "Shorter, please", user_id="bob")]
            finally:
                await companion.aclose()

        asyncio.run(talk())


@pytest.fixture
def laptop(laptop_template: Laptop, tmp_path: Path) -> Laptop:
    """A copy of the populated data dir of its own."""
    data = tmp_path / "data"
    shutil.copytree(laptop_template.data, data)
    return Laptop(data, {**laptop_template.env, "TERMMATE_DATA_DIR": str(data)})


@pytest.fixture
def database(postgres: PostgresServer, pg_url: str) -> Iterator[tuple[str, Store]]:
    """A new database, and its URL for a user with a password (that must never be shown)."""
    with psycopg.connect(postgres.uri, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    parts = urlsplit(pg_url)
    host = parts.netloc.rpartition("@")[2]
    yield urlunsplit(parts._replace(netloc=f"{ROLE}:{PASSWORD}@{host}")), Store("postgres", pg_url)


# -- the files left as they were -----------------------------------------------------------------

_RUNTIME = ("owner.lock", ".lock")
"""Lock files: who holds the store, not what it holds."""


def _files(data: Path) -> dict[str, bytes]:
    """Every file of the stores in ``data``, by path: not the logs or lock files, nor SQLite's
    shared-memory index (every reader of a WAL database keeps one beside it)."""
    files = {}
    for path in sorted(data.rglob("*")):
        name = str(path.relative_to(data))
        if not path.is_file() or name.startswith(("logs/", "locks/")):
            continue
        if path.name in _RUNTIME or path.name.endswith("-shm"):
            continue
        files[name] = path.read_bytes()
    return files


def _assert_untouched(before: dict[str, bytes], data: Path) -> None:
    after = _files(data)
    for name, content in after.items():
        if name not in before:
            # A reader may leave an empty write-ahead log; anything in it would be a write.
            assert name.endswith("-wal") and content == b"", f"{name} appeared"
    assert {name: after[name] for name in before} == before


# -- the whole journey ---------------------------------------------------------------------------


def test_a_laptop_moves_into_postgresql_whole_and_a_second_run_copies_nothing(
    laptop: Laptop, database: tuple[str, Store]
) -> None:
    url, store = database
    files = _files(laptop.data)
    embedded = laptop.status()
    assert _counts(embedded) == (2, {"fresh": 3, "old": 3}, 5)
    assert embedded["backend"] == "embedded" and embedded["where"] == str(laptop.data)
    views = laptop.views()

    first = laptop.migrate(url)
    assert first.returncode == 0, first.stderr
    output = first.stdout + first.stderr
    assert PASSWORD not in output and "Traceback" not in output
    assert "conversations  2 copied, 0 already there" in first.stdout
    assert "memories fresh 3 copied, 0 already there" in first.stdout
    assert "memories old   3 copied, 0 already there" in first.stdout
    assert "vocabulary     5 copied, 0 already there" in first.stdout
    shown = f"postgresql://{ROLE}:***@{urlsplit(url).netloc.rpartition('@')[2]}"
    assert f"TERMMATE_STORE__URL='{shown}" in first.stdout
    # stderr is no terminal here: plain progress lines, the last of each kind at the total.
    assert "copied 2/2 threads" in first.stderr and "copied 6/6 memories" in first.stderr

    again = laptop.migrate(url)
    assert again.returncode == 0, again.stderr
    assert "conversations  0 copied, 2 already there" in again.stdout
    assert "memories fresh 0 copied, 3 already there" in again.stdout
    assert "memories old   0 copied, 3 already there" in again.stdout
    assert "vocabulary     0 copied, 5 already there" in again.stdout

    shared = laptop.status(url)
    assert _counts(shared) == _counts(embedded)
    assert shared["backend"] == "postgres" and shared["server_version"]
    assert shared["pgvector_version"] and PASSWORD not in json.dumps(shared)
    assert laptop.views(url) == views
    assert _vector_indexes(store) == {"termmate_fresh_hnsw", "termmate_old_hnsw"}
    _assert_untouched(files, laptop.data)


def _vector_indexes(store: Store) -> set[str]:
    rows = store.sql("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ("%_hnsw",))
    return {row[0] for row in rows}


# -- a run killed midway -------------------------------------------------------------------------


def _hold_a_conversation(laptop: Laptop, conn: psycopg.Connection) -> None:
    """Take the key of Bob's first checkpoint, uncommitted: copying it waits for us."""
    with sqlite3.connect(laptop.data / "threads.sqlite") as source:
        [(first,)] = source.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 't-bob' "
            "ORDER BY checkpoint_id LIMIT 1"
        ).fetchall()
    conn.execute(
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, checkpoint, metadata) "
        "VALUES ('t-bob', '', %s, '{}', '{}')",
        (first,),
    )


def _hold_a_page_of_memories(laptop: Laptop, conn: psycopg.Connection) -> None:
    """Take the term of the old tier's memories, uncommitted: writing their page waits."""
    conn.execute("INSERT INTO controlled_vocabulary (category) VALUES ('travel')")


def _midway_at_a_conversation(store: Store) -> None:
    assert store.sql("SELECT thread_id FROM termmate_threads") == [("t-alice",)]
    assert _memory_ids(store) == []


def _midway_at_a_page_of_memories(store: Store) -> None:
    assert store.sql("SELECT count(*) FROM termmate_threads") == [(2,)]
    tiers = store.sql(
        "SELECT (SELECT count(*) FROM termmate_fresh), (SELECT count(*) FROM termmate_old)"
    )
    assert tiers == [(3, 0)]
    assert _vector_indexes(store) == set()  # built once the load is done


MIDWAY = {
    "a conversation": (_hold_a_conversation, _midway_at_a_conversation),
    "a page of memories": (_hold_a_page_of_memories, _midway_at_a_page_of_memories),
}


def _memory_ids(store: Store) -> list[str]:
    rows = store.sql("SELECT id FROM termmate_fresh UNION ALL SELECT id FROM termmate_old")
    return [str(row[0]) for row in rows]


def _saved(store: Store) -> tuple[int, ...]:
    [counts] = store.sql(
        "SELECT (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM checkpoint_writes)"
    )
    return counts


def _saved_on_disk(laptop: Laptop) -> tuple[int, ...]:
    with sqlite3.connect(laptop.data / "threads.sqlite") as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM writes)"
        ).fetchone()


@pytest.mark.parametrize("killed_at", list(MIDWAY))
async def test_a_migration_killed_midway_is_finished_by_the_next_run(
    laptop: Laptop, database: tuple[str, Store], killed_at: str, tmp_path: Path
) -> None:
    url, store = database
    hold, midway = MIDWAY[killed_at]
    views = laptop.views()
    laptop.ok("threads", url=url)  # the tables exist (any termmate creates them)
    laptop.ok("memory", "list", url=url)
    env = {**laptop.env, "TERMMATE_USER_ID": "alice"}
    with psycopg.connect(store.url) as holder:  # not autocommit: its rows stay uncommitted
        hold(laptop, holder)
        with (tmp_path / "killed.err").open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *TERMMATE,
                *("store", "migrate", "--to", url),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            await eventually(
                lambda: (
                    store.termmate_sessions(waiting_for_a_lock=True)
                    or process.returncode is not None
                ),
                timeout_s=90,
                what="the migration to wait for the held row",
            )
            assert process.returncode is None, (tmp_path / "killed.err").read_text()
            midway(store)
        finally:
            process.kill()
            await process.wait()
        # As PostgreSQL does, sooner or later, with the sessions of a client that is gone.
        store.cut_termmate_off()
        holder.rollback()

    done = laptop.migrate(url)
    assert done.returncode == 0, done.stderr
    assert _counts(laptop.status(url)) == _counts(laptop.status())
    ids = _memory_ids(store)
    assert len(ids) == len(set(ids)) == 6  # each memory once, in one tier
    assert _saved(store) == _saved_on_disk(laptop)  # each checkpoint and write once
    assert laptop.views(url) == views
    assert _vector_indexes(store) == {"termmate_fresh_hnsw", "termmate_old_hnsw"}


# -- what stops a migration --------------------------------------------------------------------


def _one_line_error(run: Run) -> str:
    return run.error_line(never=PASSWORD)


def _store_command(laptop: Laptop, command: str, url: str) -> Run:
    if command == "migrate":
        return laptop.migrate(url)
    return laptop.run("store", "status", url=url)


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_a_bad_or_unreachable_database_is_one_line_without_the_password(
    laptop: Laptop, command: str
) -> None:
    malformed = f"postgresql://{ROLE}:{PASSWORD}@db.example:notaport/termmate"
    run = _store_command(laptop, command, malformed)
    assert run.returncode == 2, run.stderr
    assert "not a URL" in run.stderr
    assert "Traceback" not in run.stderr and PASSWORD not in run.stderr + run.stdout

    port = free_port()
    run = _store_command(laptop, command, f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/tm")
    assert run.returncode == 1, run.stderr
    assert f"cannot connect to the database tm on 127.0.0.1:{port}" in _one_line_error(run)


async def test_a_running_termmate_keeps_the_migration_out(
    laptop: Laptop, database: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store = database
    for key in ("TERMMATE_DATA_DIR", "TERMMATE_CONFIG", "TERMMATE_LOCAL__EMBED_MODEL"):
        monkeypatch.setenv(key, laptop.env[key])
    owner = MemoryService(load_settings(), respect_enabled=False)  # as the TUI holds it
    await owner.start()
    try:
        assert owner.role == "owner"
        run = laptop.migrate(url)
    finally:
        await owner.aclose()
    assert run.returncode == 1, run.stderr
    assert f"close termmate (process {os.getpid()}) first" in _one_line_error(run)
    tables = store.sql("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", ("termmate%",))
    assert tables == [(0,)]


def test_memories_of_another_size_in_the_database_stop_the_migration_before_it_copies(
    laptop: Laptop, database: tuple[str, Store], tmp_path: Path
) -> None:
    url, store = database
    narrow = write_tiny_gguf(tmp_path / "narrow.gguf", TinyModelSpec(n_embd=32, pooling=1))
    env = {**laptop.env, "TERMMATE_STORE__URL": url, "TERMMATE_LOCAL__EMBED_MODEL": str(narrow)}
    added = run_termmate(env, "memory", "add", "Someone else's memory", "-c", "misc")
    assert added.returncode == 0, added.stderr

    run = laptop.migrate(url)
    assert run.returncode == 1, run.stderr
    line = _one_line_error(run)
    assert "holds 32-dimensional vectors" in line and "64-dimensional ones" in line
    assert store.sql("SELECT count(*) FROM termmate_threads") == [(0,)]


def test_a_conversation_of_that_name_already_in_the_database_is_left_as_it_is(
    laptop: Laptop, database: tuple[str, Store], scripted: ScriptedOpenAI
) -> None:
    url, _ = database
    scripted.script(Reply.of("Carol's answer."))
    carol = {
        **laptop.env,
        "TERMMATE_STORE__URL": url,
        "TERMMATE_USER_ID": "carol",
        "TERMMATE_MODE": "online",
        "TERMMATE_LLM__URL": scripted.url,
    }
    asked = run_termmate(carol, "ask", "--thread", "t-alice", "Carol's question")
    assert asked.returncode == 0, asked.stderr
    carols = run_termmate(carol, "show", "t-alice", "--json").json()
    bobs = laptop.ok("show", "t-bob", "--json", user="bob").json()

    run = laptop.migrate(url)
    assert run.returncode == 1, run.stderr
    assert "conversation t-alice is in the database" in _one_line_error(run)
    assert "conversations  1 copied, 0 already there" in run.stdout  # Bob's
    assert run_termmate(carol, "show", "t-alice", "--json").json() == carols
    assert laptop.ok("show", "t-bob", "--json", user="bob", url=url).json() == bobs


def test_a_new_data_dir_counts_nothing_creates_nothing_and_migrate_asks_where(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "TERMMATE_DATA_DIR": str(tmp_path / "data"),
        "TERMMATE_CONFIG": str(tmp_path / "settings.toml"),
    }
    status = run_termmate(env, "store", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert _counts(status.json()) == (0, {"fresh": 0, "old": 0}, 0)
    assert {p.name for p in (tmp_path / "data").rglob("*")} <= {"logs", "termmate.log"}

    nowhere = run_termmate(env, "store", "migrate")
    assert nowhere.returncode == 2
    assert "termmate store migrate --to postgresql://" in nowhere.stderr
