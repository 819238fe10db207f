"""`termmate memory …`: output shapes, exit codes and messages (the real tiny GGUF embeds), on
the store on disk and on PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.memory.conftest import both_backends
from tests.support.stores import Store
from tests.support.tiny_gguf import TinyModelSpec, write_tiny_gguf
from tui.cli import main

pytestmark = both_backends


@pytest.fixture
def cli(
    tmp_path: Path,
    tiny_embed_gguf: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    backend: Store,
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """Run ``termmate memory ARGS`` in this process; returns (exit code, stdout, stderr)."""
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TERMMATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TERMMATE_CONFIG", str(tmp_path / "settings.toml"))
    monkeypatch.setenv("TERMMATE_MODE", "offline")
    monkeypatch.setenv("TERMMATE_USER_ID", "minsu")
    monkeypatch.setenv("TERMMATE_LOCAL__EMBED_MODEL", str(tiny_embed_gguf))
    monkeypatch.setenv("TERMMATE_MEMORY__ENABLED", "false")  # the CLI works on memory anyway
    # Random weights give no meaning: without prefixes, the same text at least finds itself.
    monkeypatch.setenv("TERMMATE_MEMORY__EMBED_QUERY_PREFIX", "")
    monkeypatch.setenv("TERMMATE_MEMORY__EMBED_DOCUMENT_PREFIX", "")

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["memory", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    umask = os.umask(0o077)  # (reading the umask means setting it)
    os.umask(umask)
    yield run
    os.umask(umask)  # `termmate` makes its process's files private: give the session its own back


def test_add_list_search_edit_delete(cli) -> None:
    code, out, _ = cli("add", "The", "user", "likes", "tea", "--category", " Food ")
    assert code == 0 and out.startswith("remembered: ") and "[food]" in out
    code, out, _ = cli("add", "The user likes tea", "-c", "food")
    assert code == 0 and out.startswith("already remembered")
    cli("add", "The user has a cat", "--category", "pets")

    code, out, _ = cli("list", "--json")
    records = json.loads(out)
    assert (
        code == 0
        and [set(r) for r in records] == [{"id", "text", "category", "tier", "updated_at"}] * 2
    )
    tea = next(r for r in records if r["text"] == "The user likes tea")

    code, out, _ = cli("search", "The user likes tea", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["id"] == tea["id"] and "score" in hits[0]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    code, out, _ = cli("edit", tea["id"][:8], "The user likes oolong tea")
    assert code == 0 and "oolong" in out
    code, out, _ = cli("delete", tea["id"])
    assert code == 0 and out.startswith("forgot: ")
    code, out, _ = cli("list", "--tier", "fresh")
    assert code == 0 and "cat" in out and "tea" not in out
    code, out, _ = cli("list", "--tier", "old", "--json")
    assert code == 0 and json.loads(out) == []


def test_user_mistakes_exit_2_with_a_reason(cli, tmp_path: Path) -> None:
    code, _, err = cli("delete", "0000aaaa")
    assert code == 2 and "no memory with id '0000aaaa'" in err
    code, _, err = cli("edit", "0000aaaa", "new text")
    assert code == 2
    code, _, err = cli("add", "   ", "--category", "x")
    assert code == 2 and "must not be empty" in err
    code, _, err = cli("cleanup", "--days", "0")
    assert code == 2 and "--days" in err
    code, _, err = cli("search", "tea", "--limit", "99")
    assert code == 2
    code, _, err = cli("import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no file" in err
    code, _, err = cli("add", "tea")  # --category is required
    assert code == 2 and "--category" in err


def test_export_then_import_twice_adds_nothing_new(cli, tmp_path: Path) -> None:
    cli("add", "The user likes tea", "--category", "food")
    cli("add", "The user has a cat", "--category", "pets")
    exported = tmp_path / "memories.jsonl"
    assert cli("export", str(exported))[0] == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert {line["text"] for line in lines} == {"The user likes tea", "The user has a cat"}

    outside = tmp_path / "more.jsonl"
    outside.write_text(
        json.dumps({"text": "The user was born in Jeju", "category": "Origin"})
        + "\n\n"
        + json.dumps(
            {
                "text": "The user once lived in Paris",
                "category": "past",
                "tier": "old",
                "updated_at": "2021-05-01T10:00:00+09:00",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    code, out, _ = cli("import", str(outside))
    assert code == 0 and out.strip() == "imported 2 memories (0 already known)"
    code, out, _ = cli("import", str(outside))
    assert out.strip() == "imported 0 memories (2 already known)"
    code, out, _ = cli("import", str(exported))
    assert out.strip() == "imported 0 memories (2 already known)"

    records = {r["text"]: r for r in json.loads(cli("list", "--json")[1])}
    assert len(records) == 4
    paris = records["The user once lived in Paris"]
    assert (paris["tier"], paris["updated_at"]) == ("old", "2021-05-01T01:00:00.000Z")
    assert records["The user was born in Jeju"]["category"] == "origin"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"text": "no category"}\n', "category: Field required"),
        ("not json\n", "Invalid JSON"),
        ('{"text": "x", "category": "c", "updated_at": "yesterday"}\n', "ISO 8601"),
        ('{"text": "x", "category": "c", "tier": "middle"}\n', "tier"),
    ],
)
def test_a_bad_import_file_exits_2_and_imports_nothing(cli, tmp_path, content, reason) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a good line", "category": "ok"}\n' + content, encoding="utf-8")
    code, _, err = cli("import", str(path))
    assert code == 2 and f"{path}:2:" in err and reason in err
    assert json.loads(cli("list", "--json")[1]) == []


def test_another_vector_size_exits_1_until_reindexed(cli, tmp_path, monkeypatch) -> None:
    cli("add", "The user likes tea", "--category", "food")
    narrow = write_tiny_gguf(
        tmp_path / "narrow.gguf", TinyModelSpec(n_embd=32, n_head=4, n_head_kv=4, pooling=1)
    )
    monkeypatch.setenv("TERMMATE_LOCAL__EMBED_MODEL", str(narrow))
    code, _, err = cli("search", "tea")
    assert code == 1
    assert "64-dimensional" in err and "32-dimensional" in err and "memory reindex" in err
    code, out, _ = cli("reindex")
    assert (
        code == 0 and out.strip() == "reindexed 1 memories with local narrow.gguf (32 dimensions)"
    )
    code, out, _ = cli("search", "The user likes tea", "--json")
    assert code == 0 and json.loads(out)[0]["text"] == "The user likes tea"
