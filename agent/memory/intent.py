"""Did the user explicitly ask to forget something? Memories are deleted only when they did.

A check on our side, in English and Korean, so that a model's misreading alone can never
delete anything: the model says *what* to forget, these patterns confirm the user asked.
"""

from __future__ import annotations

import re

_ENGLISH = re.compile(
    r"(?:^|[.!?]\s*)(?:please\s+|pls\s+)?(?:forget|delete|erase|remove)\b"
    r"|\b(?:please|pls|can you|could you|would you|you should|you can|go ahead and)\s+"
    r"(?:forget|delete|erase|remove)\b"
    r"|\b(?:don't|do not|dont|stop)\s+(?:remember|remembering|storing|keeping)\b"
    r"|\b(?:remove|delete|erase)\s+(?:it|that|this)\s+from\s+(?:your\s+)?memory\b",
    re.IGNORECASE,
)
_KOREAN = re.compile(
    r"잊어\s*(?:줘|주세요|주라|주겠니|버려|버리세요|라)"
    r"|지워\s*(?:줘|주세요|버려|라)"
    r"|삭제\s*(?:해|하세요|해\s*줘|해\s*주세요)"
    r"|기억\s*하지\s*마"
    r"|기억에서\s*(?:지워|빼)"
)


def asks_to_forget(text: str) -> bool:
    """True when ``text`` asks to forget, delete or stop remembering something."""
    return bool(_ENGLISH.search(text) or _KOREAN.search(text))
