"""Tell Korean from English cheaply (the companion answers in the user's language)."""

from __future__ import annotations

from typing import Literal


def is_hangul(ch: str) -> bool:
    code = ord(ch)
    return 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def detect_language(text: str) -> Literal["ko", "en"]:
    """ "ko" when Hangul makes up a fair share of the letters, else "en"."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    hangul = sum(1 for ch in letters if is_hangul(ch))
    return "ko" if hangul * 4 >= len(letters) else "en"
