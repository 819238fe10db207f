"""The README is the newcomer's entry point: keep its commands and settings reference true."""

from __future__ import annotations

import re
from pathlib import Path

from config.reference import END, START, settings_reference

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["uv run termmate", "uv run pytest"]
    assert README.index("uv run termmate") < 1000


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    last_command = [
        line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")
    ][-1]
    assert last_command == "uv run pytest"
    assert "export TERMMATE_REQUIRE_SYSTEM=1" in script


def test_settings_reference_is_in_sync_with_the_model() -> None:
    block = README.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == settings_reference().strip(), (
        "README settings reference is stale: run "
        "`uv run python -m config.reference --write README.md`"
    )
