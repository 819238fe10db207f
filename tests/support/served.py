"""`termmate serve` in a real subprocess on 127.0.0.1, found through its ready line.

    with served(env) as service:
        response = httpx.post(f"{service.url}/v1/chat", json={...})
    assert service.returncode == 0

The service is asked for port 0 (the OS chooses); the fixture reads stdout until the one
ready line, ``{"event": "ready", "url": …, "pid": …}``, and checks it. stderr (the logs) goes
to a file, so a chatty server never blocks on a full pipe; ``service.stderr()`` reads it.
Leaving the block sends SIGTERM and waits for the exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.cli import ROOT, TERMMATE
from tests.support.processes import terminate

READY_TIMEOUT_S = 90.0
"""A cold start imports LangGraph and builds the Companion: seconds on a busy 2-core box."""


def service_env(folder: Path, model_url: str | None, **settings: str) -> dict[str, str]:
    """The environment of a service of its own: data under ``folder``, online mode with the
    model at ``model_url`` (None: no model at all), memory off, nothing from this process's
    own TERMMATE_ settings; ``settings`` are more TERMMATE_ variables without the prefix,
    e.g. ``SERVER__MAX_CONCURRENT_TURNS="1"``."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TERMMATE_") or name == "TERMMATE_REQUIRE_SYSTEM"
    }
    env = {
        **inherited,
        "TERMMATE_DATA_DIR": str(folder / "data"),
        "TERMMATE_CONFIG": str(folder / "settings.toml"),
        "TERMMATE_MODE": "online",
        "TERMMATE_LLM__MAX_RETRIES": "0",
        "TERMMATE_LLM__TIMEOUT_S": "10",
        "TERMMATE_MEMORY__ENABLED": "false",
        "TERMMATE_USER_ID": "house",
    }
    if model_url is not None:
        env["TERMMATE_LLM__URL"] = model_url
    env.update({f"TERMMATE_{key}": value for key, value in settings.items()})
    return env


@dataclass
class Served:
    """A running `termmate serve`."""

    process: subprocess.Popen[bytes]
    url: str
    ready: dict[str, Any]
    """The ready line, decoded."""
    stderr_path: Path
    stdout_rest: bytes = b""
    """What stdout held after the ready line (it should hold nothing)."""
    _closed: bool = field(default=False, repr=False)

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def stderr(self) -> str:
        """Everything the service wrote to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = 60.0) -> int:
        """Wait for the exit; the exit code. Whatever else reached stdout is kept."""
        code = self.process.wait(timeout=timeout_s)
        self._read_stdout()
        return code

    def _read_stdout(self) -> None:
        if self.process.stdout is not None and not self._closed:
            self.stdout_rest += self.process.stdout.read()
            self.process.stdout.close()
            self._closed = True


def start_served(env: Mapping[str, str], *args: str, stderr_dir: Path | None = None) -> Served:
    """Start `termmate serve --port 0 ARGS` with exactly ``env``; return once it is ready.

    Fails (with its stderr) when it exits or prints anything but the ready line first.
    """
    folder = Path(stderr_dir or tempfile.mkdtemp(prefix="termmate-serve-"))
    stderr_path = folder / f"serve-{time.monotonic_ns()}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*TERMMATE, "serve", "--port", "0", *args],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        line = _first_line(process, READY_TIMEOUT_S, stderr_path)
        ready = json.loads(line)
    except BaseException:
        terminate(process, 10)
        raise
    assert ready.get("event") == "ready", line
    assert ready.get("pid") == process.pid, line
    return Served(process, ready["url"], ready, stderr_path)


@contextlib.contextmanager
def served(env: Mapping[str, str], *args: str, stderr_dir: Path | None = None) -> Iterator[Served]:
    """`termmate serve` for the length of the block (SIGTERM and a wait when it ends)."""
    service = start_served(env, *args, stderr_dir=stderr_dir)
    try:
        yield service
    finally:
        terminate(service.process, 30)
        service._read_stdout()


def _first_line(process: subprocess.Popen[bytes], timeout_s: float, stderr: Path) -> str:
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    while b"\n" not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            with contextlib.suppress(OSError):
                seen += os.read(process.stdout.fileno(), 65536)
            raise AssertionError(
                f"termmate serve printed no ready line (exit {process.poll()}); stdout "
                f"{seen!r}; stderr:\n{stderr.read_text(errors='replace')[-4000:]}"
            )
        ready, _, _ = select.select([process.stdout], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:  # stdout closed: the process is ending; the check above says so
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=min(left, 0.5))
                continue
            seen += chunk
    line, _, rest = seen.partition(b"\n")
    assert not rest, f"more than the ready line on stdout: {seen!r}"
    return line.decode()


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event name, decoded data) for each server-sent event in ``lines`` (a response's
    ``iter_lines()``), as they arrive."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
