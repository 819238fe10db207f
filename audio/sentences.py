"""Streamed reply text → whole, speakable sentences, as soon as each one ends.

The splitter is fed the model's text deltas. It hands back each sentence the moment it is
known to be complete, so the first one can be synthesised while the model writes the next.
It reads English and Korean (and the CJK full stops): ``. ? ! …`` followed by a space,
Korean endings followed directly by the next word (``했어요.그리고``), closing quotes and
brackets after the terminator, decimals (3.5), abbreviations (Mr., e.g., etc.) and emoji.
Fenced code blocks and inline code are skipped; Markdown is stripped (markdown.py). A line
end always ends a sentence: chat models do not hard-wrap, and list items and headers are
lines.
"""

from __future__ import annotations

from typing import Literal

from .markdown import FENCE, LINE_MARKER, TABLE_ROW, clean_inline, is_emoji, table_row_text

_TERMINATORS = ".?!…。？！"
_FULL_WIDTH_TERMINATORS = "。？！"  # need no space after them
_CLOSERS = "\"'”’»)]}」』〉》〕】*_"
_MARKER_CHARS = set(" \t#-*+•>0123456789.)`~|_=")
# Words whose final period never ends a sentence (compared lower-case, without the last '.').
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "e.g", "i.e", "cf", "al",
    "approx", "dept", "est", "fig", "gen", "gov", "inc", "ltd", "co", "corp", "no", "vol",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "a.m", "p.m", "u.s", "u.k", "ph.d", "b.sc", "m.sc",
}  # fmt: skip
# Korean sentence endings that may carry an emoji instead of a full stop ("좋아요 😊 내일 봐요").
_KOREAN_FINAL_SYLLABLES = set("요다죠까네지군래야자")

LineState = Literal["start", "text", "hold"]


def _is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3" or "\u3131" <= char <= "\u318e"


class SentenceSplitter:
    """Feed text deltas with :meth:`feed`, get finished sentences back; :meth:`flush` at the end.

    Sentences come back cleaned (no Markdown, no code, no emoji) and never empty. ``max_chars``
    bounds how long a sentence without an end may grow before it is cut at a clause break
    (a comma, semicolon or dash), so a rambling sentence does not delay the first sound.
    """

    def __init__(self, *, max_chars: int = 240) -> None:
        if max_chars < 20:
            raise ValueError("max_chars must be at least 20")
        self.max_chars = max_chars
        self._reset()

    def _reset(self) -> None:
        self._buffer = ""  # raw text not yet taken apart
        self._text = ""  # inline text of the current line, line markers already removed
        self._line_state: LineState = "start"
        self._fence: str | None = None  # the fence that opened the code block we are in

    def feed(self, delta: str) -> list[str]:
        """Add the next piece of the reply; returns the sentences it completed (maybe none)."""
        self._buffer += delta
        return self._pump(final=False)

    def flush(self) -> list[str]:
        """The reply is complete: return what is left, and start afresh."""
        sentences = self._pump(final=True)
        sentences += self._split(final=True)
        self._reset()
        return sentences

    # -- lines ------------------------------------------------------------------------------

    def _pump(self, *, final: bool) -> list[str]:
        out: list[str] = []
        while self._buffer:
            newline = self._buffer.find("\n")
            line = self._buffer if newline == -1 else self._buffer[:newline]
            if self._line_state == "start":
                if newline == -1 and not final and self._undecided(line):
                    break
                self._line_state = self._classify(line)
                if self._line_state == "text":
                    marker = LINE_MARKER.match(line)
                    skip = marker.end() if marker else 0
                    self._buffer = self._buffer[skip:]
                    continue
            if self._line_state == "hold":
                if newline == -1 and not final:
                    break
                self._buffer = "" if newline == -1 else self._buffer[newline + 1 :]
                out += self._held_line(line.rstrip("\r"))
                self._line_state = "start"
                continue
            # text: stream the line's characters into the sentence buffer
            if newline == -1:
                self._text += self._buffer
                self._buffer = ""
                out += self._split(final=final)
                break
            self._text += line.rstrip("\r")
            self._buffer = self._buffer[newline + 1 :]
            out += self._split(final=True)
            self._line_state = "start"
        return out

    def _undecided(self, line: str) -> bool:
        """Could this line start still turn into a fence, marker or table row?"""
        return len(line) < 10 and all(char in _MARKER_CHARS for char in line)

    def _classify(self, line: str) -> LineState:
        if self._fence is not None or FENCE.match(line) or TABLE_ROW.match(line):
            return "hold"
        return "text"

    def _held_line(self, line: str) -> list[str]:
        fence = FENCE.match(line)
        if self._fence is not None:
            closing = (
                fence is not None
                and fence.group(1)[0] == self._fence[0]
                and len(fence.group(1)) >= len(self._fence)
                and not line[fence.end() :].strip()
            )
            if closing:
                self._fence = None
            return []
        if fence is not None:
            self._fence = fence.group(1)
            return []
        spoken = clean_inline(table_row_text(line))
        return [spoken] if spoken else []

    # -- sentences --------------------------------------------------------------------------

    def _split(self, *, final: bool) -> list[str]:
        out: list[str] = []
        while self._text:
            end = _sentence_end(self._text, final=final)
            if end is None:
                end = self._clause_cut(final=final)
            if end is None:
                break
            sentence, self._text = self._text[:end], self._text[end:].lstrip()
            spoken = clean_inline(sentence)
            if spoken:
                out.append(spoken)
        return out

    def _clause_cut(self, *, final: bool) -> int | None:
        """Where to cut a sentence that has grown past max_chars; the whole text when final."""
        text = self._text
        if final:
            return len(text)
        if len(text) <= self.max_chars or "`" in text:
            return None
        window = text[: self.max_chars]
        best = max(window.rfind(mark) for mark in (", ", "; ", ": ", " — ", " – ", "、", "，"))
        if best >= self.max_chars // 3:
            return best + 1
        if len(text) > 2 * self.max_chars:
            space = window.rfind(" ")
            return space if space > 0 else self.max_chars
        return None


def _sentence_end(text: str, *, final: bool) -> int | None:
    """The index just past the first complete sentence in ``text``; None if none is complete.

    Without ``final``, a terminator at the very end is not trusted yet: the next delta may
    turn "3." into "3.5", "Mr." into "Mr. Kim" or "." into "...".
    """
    length = len(text)
    i = 0
    while i < length:
        char = text[i]
        if char == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            close = text.find("`" * run, i + run)
            if close == -1:
                return length if final else None
            i = close + run
            continue
        if char in _TERMINATORS or (char == "~" and i > 0 and _is_hangul(text[i - 1])):
            end = _terminator_end(text, i, final=final)
            if end == -1:
                return None
            if end is not None:
                return end
        elif is_emoji(char):
            end = _emoji_end(text, i, final=final)
            if end == -1:
                return None
            if end is not None:
                return end
        i += 1
    return None


def _terminator_end(text: str, start: int, *, final: bool) -> int | None:
    """Where the sentence ends if the terminator at ``start`` ends it; None if it does not;
    -1 when the text must grow before that can be told."""
    length = len(text)
    j = start
    while j < length and (text[j] in _TERMINATORS or text[j] == "~"):
        j += 1
    run_end = j
    while j < length and (text[j] in _CLOSERS or is_emoji(text[j])):
        j += 1
    before = text[start - 1] if start > 0 else ""
    if j >= length:
        return length if final else -1
    follower = text[j]
    if not follower.isspace():
        # "했어요.그리고" ends a Korean sentence; "3.5", "a.b", "e.g", "서울~부산" and a quote
        # running on ('"안녕."이라고') do not.
        if j > run_end:
            return None
        if text[start] in _FULL_WIDTH_TERMINATORS:
            return j
        if text[start] != "~" and _is_hangul(before) and _is_hangul(follower):
            return j
        return None
    k = j
    while k < length and text[k].isspace():
        k += 1
    if k >= length:
        return length if final else -1
    if text[k].islower():  # "e.g. apples", "was... thinking", '"Hi?" she asked'
        return None
    if text[start] == "." and _is_abbreviation(text, start, text[k]):
        return None
    return j


def _is_abbreviation(text: str, period: int, follower: str) -> bool:
    word_start = period
    while word_start > 0 and (text[word_start - 1].isalpha() or text[word_start - 1] == "."):
        word_start -= 1
    word = text[word_start:period]
    if not word:
        return False
    if len(word) == 1 and word.isupper() and word != "I":  # an initial: "J. R. R. Tolkien"
        return True
    lowered = word.lower()
    if lowered in ("no", "vol", "fig") and not follower.isdigit():
        return False  # "I said no. Then..." — only "No. 5" is the abbreviation
    return lowered in _ABBREVIATIONS


def _emoji_end(text: str, start: int, *, final: bool) -> int | None:
    """An emoji standing in for a full stop: "Great job 🎉 Next", "좋아요 😊 내일 봐요"."""
    length = len(text)
    j = start
    while j < length and (is_emoji(text[j]) or text[j] in _CLOSERS):
        j += 1
    k = j
    while k < length and text[k].isspace():
        k += 1
    if k == j:
        return None if j < length else (length if final else -1)
    if k >= length:
        return length if final else -1
    before = text[:start].rstrip()
    last = before[-1] if before else ""
    if text[k].isupper() or (last in _KOREAN_FINAL_SYLLABLES and _is_hangul(text[k])):
        return j
    return None


def split_sentences(text: str) -> list[str]:
    """All the speakable sentences of a whole text (e.g. for ``termmate say``)."""
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()
