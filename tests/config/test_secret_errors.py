"""A settings value that is refused is named with what is wrong, but a secret's value never
reaches the message: every SecretStr field shows <hidden>, wherever the value came from, and a
PostgreSQL URL that libpq cannot parse is explained in our words, not libpq's (which quote the
password)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, SecretStr

from config import Settings, SettingsError, load_settings
from tests.support.cli import Run, run_termmate

SECRET = "hunter2"
"""In every secret below; it must appear nowhere in what termmate prints."""


def _refused(run: Run) -> str:
    """The output of a run refused for its settings: exit 2, no traceback, no secret."""
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "Traceback" not in output
    assert SECRET not in output, output
    return output


def test_a_bad_token_from_the_environment_is_named_but_not_shown(
    termmate_env: dict[str, str],
) -> None:
    env = {**termmate_env, "TERMMATE_SERVER__TOKEN": f"{SECRET} secret"}
    output = _refused(run_termmate(env, "threads"))
    assert "environment variable TERMMATE_SERVER__TOKEN = <hidden>" in output
    assert "only visible ASCII characters (no spaces)" in output


def test_a_bad_token_in_the_settings_file_is_named_but_not_shown(
    termmate_env: dict[str, str],
) -> None:
    settings_file = Path(termmate_env["TERMMATE_CONFIG"])
    settings_file.write_text(f'[server]\ntoken = "{SECRET} secret"\n')
    output = _refused(run_termmate(termmate_env, "threads"))
    assert f"{settings_file}: key 'token' in [server] = <hidden>" in output
    assert "only visible ASCII characters (no spaces)" in output


def test_a_section_written_as_a_list_hides_the_token_in_it(
    termmate_env: dict[str, str],
) -> None:
    # [[server]] makes the whole section a list: the message quotes the section's value.
    settings_file = Path(termmate_env["TERMMATE_CONFIG"])
    settings_file.write_text(f'[[server]]\ntoken = "{SECRET}"\nport = 8001\n')
    output = _refused(run_termmate(termmate_env, "threads"))
    assert f"{settings_file}: key 'server' = [{{'token': <hidden>, 'port': 8001}}]" in output
    assert "valid dictionary" in output


@pytest.mark.parametrize("source", ["environment", "flag"])
def test_a_raw_percent_in_the_store_password_is_explained_without_the_password(
    termmate_env: dict[str, str], source: str
) -> None:
    url = f"postgresql://bob:{SECRET}%secret@db.example:5432/termmate"
    if source == "environment":
        run = run_termmate({**termmate_env, "TERMMATE_STORE__URL": url}, "threads")
        where = "environment variable TERMMATE_STORE__URL = <hidden>"
    else:
        run = run_termmate(termmate_env, "store", "migrate", "--to", url)
        where = "command-line option for store.url = <hidden>"
    output = _refused(run)
    assert "%secret" not in output
    assert where in output
    assert "store.url for host db.example has a % " in output
    assert "a % in the user name or password must be written %25" in output


def test_an_ordinary_bad_value_is_still_shown(termmate_env: dict[str, str]) -> None:
    output = _refused(run_termmate({**termmate_env, "TERMMATE_SERVER__PORT": "abc"}, "threads"))
    assert "environment variable TERMMATE_SERVER__PORT = 'abc'" in output
    assert "valid integer" in output


def _secret_fields() -> list[tuple[str, str]]:
    """(section, field) of every SecretStr field of the settings, found in the model."""
    found = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for name, inner in model.model_fields.items():
            if inner.annotation is SecretStr or SecretStr in get_args(inner.annotation):
                found.append((section, name))
    return found


def test_the_model_has_the_secret_fields_this_file_covers() -> None:
    assert {("server", "token"), ("store", "url"), ("llm", "api_key")} <= set(_secret_fields())


@pytest.mark.parametrize(
    ("section", "name"), _secret_fields(), ids=[f"{s}.{n}" for s, n in _secret_fields()]
)
def test_every_secret_field_is_hidden_when_refused(tmp_path: Path, section: str, name: str) -> None:
    # A list where a string belongs: refused by the type itself, before any validator.
    overrides: dict[str, Any] = {section: {name: [f"{SECRET}-{section}"]}}
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "settings.toml", overrides)
    message = str(caught.value)
    assert SECRET not in message, message
    assert f"command-line option for {section}.{name} = <hidden>" in message


@pytest.mark.parametrize(
    ("url", "explained"),
    [
        (
            f"postgresql://bob:{SECRET} x@db.example/termmate",
            "store.url for host db.example has a space in it: a space in the user name or "
            "password must be written %20",
        ),
        (
            # The raw / ends the authority early: what Python then calls the port is the password.
            f"postgresql://bob:{SECRET}/x@db.example/termmate",
            "store.url is not a URL: its port must be a number from 1 to 65535; "
            "write / ? # @ in the user name or password as %2F %3F %23 %40",
        ),
        (
            f"postgresql://bob:{SECRET}@db.example/termmate?sslmode=require&{SECRET}",
            "store.url for host db.example has a query parameter that is not NAME=VALUE",
        ),
        (
            f"postgresql://bob:{SECRET}@db.example/termmate?sslmod=require&{SECRET}",
            "store.url for host db.example has a query parameter libpq does not know (sslmod)",
        ),
    ],
    ids=["space", "slash", "bare-parameter", "unknown-parameter"],
)
def test_a_store_url_libpq_refuses_is_explained_in_our_words(
    tmp_path: Path, url: str, explained: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "settings.toml", {"store": {"url": url}})
    message = str(caught.value)
    assert SECRET not in message, message
    assert f"command-line option for store.url = <hidden>: {explained}" in message
