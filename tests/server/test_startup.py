"""Starting `termmate serve`: one ready line with the real port, or a one-line reason and the
exit code every termmate command uses (2 for settings, 1 for unreadable data)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.cli import run_termmate
from tests.support.served import Served, service_env


def test_the_ready_line_says_where_the_service_listens(plain: Served) -> None:
    ready = plain.ready
    assert set(ready) == {"event", "url", "pid"}
    address = urlsplit(ready["url"])
    assert (address.scheme, address.hostname) == ("http", "127.0.0.1")
    assert address.port and address.port != 0  # port 0 asked, the real one told
    assert httpx.get(f"{ready['url']}/health").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "example.org"])
def test_listening_beyond_loopback_without_a_token_is_refused(tmp_path: Path, host: str) -> None:
    run = run_termmate(service_env(tmp_path, None), "serve", "--host", host, "--port", "0")
    assert run.returncode == 2, run.stderr
    assert "TERMMATE_SERVER__TOKEN" in run.stderr and host in run.stderr
    assert run.stdout == ""  # no ready line
    assert "Traceback" not in run.stderr


def test_a_port_that_is_taken_is_a_clear_error(tmp_path: Path, plain: Served) -> None:
    port = str(urlsplit(plain.url).port)
    run = run_termmate(service_env(tmp_path, None), "serve", "--port", port)
    assert run.returncode == 2, run.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr and "--port" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--port", "70000"], {}, "server.port"),
        ([], {"SERVER__CORS_ORIGINS": "app.example"}, "is not an origin"),
        ([], {"SERVER__MAX_CONCURRENT_TURNS": "0"}, "TERMMATE_SERVER__MAX_CONCURRENT_TURNS"),
    ],
    ids=["port", "origin", "slots"],
)
def test_bad_settings_exit_2_saying_which(
    tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    run = run_termmate(service_env(tmp_path, None, **env), "serve", *args)
    assert run.returncode == 2, run.stderr
    assert said in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""


def test_a_damaged_conversation_database_exits_1_as_ask_does(tmp_path: Path) -> None:
    env = service_env(tmp_path, None)
    database = Path(env["TERMMATE_DATA_DIR"]) / "threads.sqlite"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not a database at all" * 100)
    run = run_termmate(env, "serve", "--port", "0")
    assert run.returncode == 1, run.stderr
    assert "cannot be read as termmate's conversation database" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert database.read_bytes().startswith(b"this is not")  # never deleted


def test_settings_from_the_file_are_used(tmp_path: Path) -> None:
    """[server] in settings.toml: here a host that needs a token, and none given."""
    env = service_env(tmp_path, None)
    Path(env["TERMMATE_CONFIG"]).write_text('[server]\nhost = "0.0.0.0"\nport = 0\n')
    run = run_termmate(env, "serve")
    assert run.returncode == 2 and "0.0.0.0" in run.stderr, run.stderr
    assert json.dumps("ready") not in run.stdout
