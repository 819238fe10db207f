"""Run Python in a fresh process that records every attempt to use the network.

An audit hook (``sys.addaudithook``) sees every socket connection, name lookup and datagram
before it happens; ``audited_python(code, ...)`` runs ``code`` after installing one and returns
what it saw next to what ``code`` printed. The check that a mode "opens no connection" is then
``run.network == []`` — and a second run that does connect shows the hook is not blind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .cli import ROOT

NETWORK_EVENTS = (
    "socket.connect",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.sendto",
    "socket.sendmsg",
)
"""The audit events that mean "about to use the network"."""

_PRELUDE = """
import atexit, json, sys
_network = []
def _audit(event, args):
    if event in {events!r}:
        _network.append([event, repr(args)[:200]])
sys.addaudithook(_audit)
def _report():
    with open({report!r}, "w") as out:
        json.dump(_network, out)
atexit.register(_report)
"""


@dataclass(frozen=True)
class AuditedRun:
    """What the process printed, its exit code, and the network events it attempted."""

    returncode: int
    stdout: str
    stderr: str
    network: list[list[str]]

    @property
    def events(self) -> set[str]:
        return {event for event, _ in self.network}


def audited_python(
    code: str, folder: Path, *args: str, env: Mapping[str, str], timeout_s: float = 120
) -> AuditedRun:
    """Run ``code`` (with ``args`` in sys.argv[1:]) in a fresh process under the audit hook;
    ``folder`` holds the script and its report."""
    return start_audited(code, folder, *args, env=env).finish(timeout_s)


def audited_termmate(
    folder: Path, *args: str, env: Mapping[str, str], timeout_s: float = 120
) -> AuditedRun:
    """``termmate ARGS`` under the audit hook, run to its end."""
    return start_audited(TERMMATE_MAIN, folder, *args, env=env).finish(timeout_s)


TERMMATE_MAIN = "from tui.cli import main\nsys.exit(main(sys.argv[1:]))\n"
"""The script that is ``termmate`` itself (``sys`` comes from the prelude)."""


class AuditedProcess:
    """A process started under the audit hook; ``process`` is its Popen (text mode), for a
    test that must act while it runs (speak into the microphone)."""

    def __init__(self, process: subprocess.Popen[str], report: Path) -> None:
        self.process = process
        self._report = report

    def finish(self, timeout_s: float = 120) -> AuditedRun:
        """Wait for the exit: what it printed and the network events it attempted."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        report = self._report
        network = json.loads(report.read_text()) if report.exists() else []
        return AuditedRun(self.process.returncode, stdout, stderr, network)


def start_audited(code: str, folder: Path, *args: str, env: Mapping[str, str]) -> AuditedProcess:
    """Start ``code`` (with ``args`` in sys.argv[1:]) under the audit hook without waiting."""
    report = folder / "network.json"
    script = folder / "audited.py"
    script.write_text(_PRELUDE.format(events=NETWORK_EVENTS, report=str(report)) + code)
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return AuditedProcess(process, report)
