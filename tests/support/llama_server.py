"""A real OpenAI-compatible peer: ``python -m llama_cpp.server`` serving a GGUF on 127.0.0.1.

The `server` extra of llama-cpp-python is a dev dependency. The server runs as a subprocess
that a test can kill (SIGKILL, like a crash) and start again on the same port.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.processes import terminate

# uvicorn's access log: `INFO:     127.0.0.1:40834 - "GET /v1/models HTTP/1.1" 200 OK`
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server --model MODEL --host 127.0.0.1 --port PORT``."""

    def __init__(
        self,
        model: Path,
        log_path: Path,
        *,
        port: int | None = None,
        alias: str | None = None,
        extra_args: tuple[str, ...] = ("--n_threads", "1", "--seed", "7"),
    ) -> None:
        self.model = model
        self.log_path = log_path
        self.port = port or free_port()
        self.alias = alias
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 90.0) -> LlamaServer:
        """Start the server and return once GET /v1/models answers."""
        if self.running:
            return self
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--verbose",
            "False",
            *(("--model_alias", self.alias) if self.alias else ()),
            *self.extra_args,
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {' '.join(command)}\n".encode())
            log.flush()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._wait_until_serving(timeout_s)
        return self

    def _wait_until_serving(self, timeout_s: float) -> None:
        assert self.process is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with opener.open(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(
            f"llama_cpp.server did not answer within {timeout_s} s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would; returns once the process is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """Ask the server to shut down (SIGTERM); kill it if it does not."""
        process, self.process = self.process, None
        if process is not None:
            terminate(process, timeout_s=10)

    def restart(self, timeout_s: float = 90.0) -> LlamaServer:
        """Kill the server if it runs, then start it again on the same port."""
        self.kill()
        return self.start(timeout_s)

    def access_log(self) -> list[tuple[str, str, int]]:
        """Every request the server logged: (method, path, status), oldest first."""
        text = self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""
        return [(m["method"], m["path"], int(m["status"])) for m in _ACCESS_LINE.finditer(text)]

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
