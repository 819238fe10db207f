"""Cold start: launch to first paint of `termmate` in tmux vs a bare Textual app (same run).

Both programs are started alternately in a real terminal (tmux); the clock stops when the
input line's placeholder first appears on the captured screen. Goal: termmate ≤ 1.3× the bare
app (medians).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.bench._stats import median, percentile, report, verdict

ROOT = Path(__file__).resolve().parents[2]
MARKER = "Say something"


def time_to_first_paint(command: list[str], env: dict[str, str]) -> float:
    socket = f"/tmp/bench-{uuid.uuid4().hex[:8]}.sock"
    tmux = ["tmux", "-S", socket]
    started = time.perf_counter()
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "36", *command],
        env=env,
        check=True,
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True
            ).stdout
            if MARKER in screen:
                return time.perf_counter() - started
            time.sleep(0.005)
        raise RuntimeError(f"no first paint within 60 s: {command}")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is required")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "TERMMATE_DATA_DIR": str(Path(tmp) / "data"),
            "TERMMATE_CONFIG": str(Path(tmp) / "settings.toml"),
            "TERMMATE_MODE": "offline",
            "PYTHONPATH": str(ROOT),
        }
        termmate = [str(Path(sys.executable).with_name("termmate"))]
        bare = [sys.executable, str(ROOT / "tests" / "bench" / "bare_app.py")]
        # Warm the OS file cache for both before measuring.
        time_to_first_paint(termmate, env)
        time_to_first_paint(bare, env)
        ours, baseline = [], []
        for _ in range(args.runs):
            baseline.append(time_to_first_paint(bare, env))
            ours.append(time_to_first_paint(termmate, env))
    ratio = median(ours) / median(baseline)
    report(
        "cold start: launch to first paint (tmux)",
        [
            f"bare Textual app  median {median(baseline) * 1000:7.1f} ms"
            f"  p95 {percentile(baseline, 95) * 1000:7.1f} ms",
            f"termmate          median {median(ours) * 1000:7.1f} ms"
            f"  p95 {percentile(ours, 95) * 1000:7.1f} ms",
            f"ratio {ratio:.2f}× (goal ≤ 1.30×: {verdict(ratio <= 1.3)}), {args.runs} runs each",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
