"""Which voice each user of a shared companion speaks in (`termmate serve`'s POST /v1/voice).

One small JSON file, ``data_dir/voices/users.json`` (user id → voice name), private like every
file of termmate's, replaced atomically under a lock so two processes never lose each other's
change. A user without an entry hears ``tts.reference_id``, the voice of the companion's own
user.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from config import check_voice_name, private_dir

log = logging.getLogger(__name__)


class UserVoices:
    """The users' own voices, read from disk on every question (another process may write)."""

    def __init__(self, voices_dir: Path) -> None:
        self.path = voices_dir / "users.json"

    def get(self, user_id: str) -> str | None:
        """``user_id``'s voice (None: they have none of their own)."""
        return self._read().get(user_id)

    def set(self, user_id: str, voice: str) -> None:
        """Make ``voice`` (a cloned voice's name) ``user_id``'s from now on."""
        voice = check_voice_name(voice)
        private_dir(self.path.parent)
        with self._locked():
            chosen = self._read()
            chosen[user_id] = voice
            self._write(chosen)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s, which cannot be read (%s)", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(user): str(voice) for user, voice in data.items() if isinstance(voice, str)}

    def _write(self, chosen: dict[str, str]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".users-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(chosen, handle, ensure_ascii=False, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path.with_name(".users.json.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
