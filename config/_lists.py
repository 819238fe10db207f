"""A list setting given in the environment, where every value is one string."""

from __future__ import annotations

import json
from typing import Any


def list_from_env(value: Any, example: str) -> Any:
    """``value`` as a list when it is the environment's spelling of one: "a,b" or a JSON
    array ('["a", "b"]'); anything else is returned as it is, for the field to check.
    ``example`` completes the error for JSON that does not parse ("expected " + example)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text.startswith("["):
        return text.split(",")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"expected {example}") from None
