"""Run every benchmark in turn; each prints its figures beside a same-run baseline.

uv run python tests/bench/run_all.py            # all of them
uv run python tests/bench/run_all.py cold_start # only those whose name contains this
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    wanted = sys.argv[1:]
    benches = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    failed = []
    for name in benches:
        if wanted and not any(w in name for w in wanted):
            continue
        print(f"\n### {name}", flush=True)
        result = subprocess.run([sys.executable, "-m", f"tests.bench.{name}"], cwd=ROOT)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
