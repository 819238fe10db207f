"""The settings reference in Markdown, generated from the Settings model.

``python -m config.reference`` prints it; ``--write README.md`` replaces the block between the
markers in the README. A test checks the README's copy is current.
"""

from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._settings import Settings, env_name

START = "<!-- settings-reference:start -->"
END = "<!-- settings-reference:end -->"

_COMPUTED_DEFAULTS = {
    "user_id": "your OS user name",
    "data_dir": "the platform's user data dir",
}


def _is_section(field: FieldInfo) -> bool:
    annotation = field.annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _default(name: str, field: FieldInfo) -> str:
    if name in _COMPUTED_DEFAULTS:
        return _COMPUTED_DEFAULTS[name]
    value: Any = field.default
    if value is PydanticUndefined or value is None:
        return "unset"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return f'`"{value}"`' if len(value) < 70 else "(see the source)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _rows(model: type[BaseModel], section: str | None) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        if _is_section(field):
            continue
        key = f"{section}.{name}" if section else name
        env = env_name(key)
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | `{env}` | {_default(name, field)} | {description} |")
    return rows


def settings_reference() -> str:
    """The reference: top-level keys, then one table per section."""
    header = ["| key | environment | default | meaning |", "|---|---|---|---|"]
    out = ["#### Top level", "", *header, *_rows(Settings, None)]
    for name, field in Settings.model_fields.items():
        if not _is_section(field):
            continue
        section_model = field.annotation
        assert isinstance(section_model, type) and issubclass(section_model, BaseModel)
        out += ["", f"#### `[{name}]` — {field.description or ''}", "", *header]
        out += _rows(section_model, name)
    return "\n".join(out) + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with the content between the reference markers replaced by ``block``."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the markers {START} and {END} are missing")
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, metavar="README", help="update this file in place")
    args = parser.parse_args(argv)
    block = settings_reference()
    if args.write is None:
        sys.stdout.write(block)
        return 0
    args.write.write_text(replace_block(args.write.read_text(encoding="utf-8"), block), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
