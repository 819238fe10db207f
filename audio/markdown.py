"""Markdown → words a TTS model can say: markup, code, links' addresses and emoji removed."""

from __future__ import annotations

import re

# Emoji and the joiners and selectors that glue them together: nothing a voice can say.
_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # pictographs, emoticons, transport, flags, skin tones, ...
    (0x2600, 0x27BF),  # misc symbols and dingbats (☀ ✨ ❤ ✔)
    (0x2B00, 0x2BFF),  # arrows and stars (⭐)
    (0xFE00, 0xFE0F),  # variation selectors
    (0x200D, 0x200D),  # zero-width joiner
    (0x20E3, 0x20E3),  # keycap
    (0xE0020, 0xE007F),  # tag characters (subdivision flags)
)


def is_emoji(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


_HIDDEN = 0xF0000  # supplementary private use area: never in model output

_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]+>")
_BARE_URL = re.compile(r"\b(?:https?|ftp)://\S+")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~(.+?)~~")
_STRAY_UNDERSCORES = re.compile(r"(?<!\w)_+|_+(?!\w)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>])")
_TRAILING_HASHES = re.compile(r"\s+#+\s*$")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,!?;:…。！？])")
_SPACES = re.compile(r"\s+")

# Line-start markers: headers, bullets, numbered items and quotes (possibly nested).
LINE_MARKER = re.compile(r"^\s*(?:(?:#{1,6}|[-*+•]|\d{1,3}[.)]|>)[ \t]+|>)*")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
TABLE_ROW = re.compile(r"^\s{0,3}\|")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?(?:\s*:?-+:?\s*\|)+\s*(?::?-+:?\s*)?\|?\s*$")


def clean_inline(text: str) -> str:
    """One sentence of inline Markdown → plain words ("" when nothing is left to say)."""
    text = _INLINE_CODE.sub(" ", text).replace("`", "")
    # Escaped marks hide in the private use area while the markup is swept away.
    text = _ESCAPE.sub(lambda m: chr(_HIDDEN + ord(m.group(1))), text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(" ", text)
    text = _BARE_URL.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    text = text.replace("*", "").replace("~~", "")
    text = _STRAY_UNDERSCORES.sub("", text)
    text = "".join(chr(ord(c) - _HIDDEN) if _HIDDEN <= ord(c) < _HIDDEN + 128 else c for c in text)
    text = "".join(" " if is_emoji(char) else char for char in text)
    text = _TRAILING_HASHES.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    return text if any(char.isalnum() for char in text) else ""


def table_row_text(line: str) -> str:
    """A table row read as a list ("a, b, c"); the |---| separator row reads as nothing."""
    if _TABLE_SEPARATOR.match(line):
        return ""
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return ", ".join(cell for cell in cells if cell)
