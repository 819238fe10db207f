"""Local throughput: tokens/s through termmate's local backend vs raw llama-cpp-python.

Same GGUF (random weights, big enough that each token costs real compute), same prompt, greedy
sampling, and a model that never emits </s>, so both paths generate the same max_tokens. Each
measurement runs in a fresh process holding one model (two llama.cpp contexts in one process
slow each other down, which would blur the comparison); the processes alternate; medians.
Goal ≥ 0.95×.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench._stats import median, report, verdict
from tests.support.tiny_gguf import TinyModelSpec, write_tiny_gguf

PROMPT = [{"role": "user", "content": "Tell me a long story about a cat and a robot."}]
SPEC = TinyModelSpec(
    n_embd=512, n_layer=6, n_head=8, n_head_kv=8, n_ff=1536, seed=7, never_ends=True
)
ROOT = Path(__file__).resolve().parents[2]


def raw_rates(model: Path, runs: int, max_tokens: int) -> list[float]:
    from llama_cpp import Llama

    llama = Llama(model_path=str(model), n_ctx=2048, n_threads=2, verbose=False)

    def once(tokens: int) -> float:
        started = time.perf_counter()
        count = 0
        for chunk in llama.create_chat_completion(
            messages=PROMPT, max_tokens=tokens, temperature=0.0, stream=True
        ):
            if chunk["choices"][0]["delta"].get("content"):
                count += 1
        return count / (time.perf_counter() - started)

    once(8)  # warm up
    rates = [once(max_tokens) for _ in range(runs)]
    llama.close()
    return rates


async def termmate_rates(model: Path, runs: int, max_tokens: int) -> list[float]:
    from agent.llm.local import LocalChat
    from agent.llm.types import ChatRequest
    from config import LocalSettings

    settings = LocalSettings(chat_model=str(model), n_ctx=2048, threads=2)
    chat = LocalChat(settings, model.parent)

    async def once(tokens: int) -> float:
        request = ChatRequest(messages=PROMPT, max_tokens=tokens, temperature=0.0)
        started = time.perf_counter()
        count = 0
        async for _ in chat.stream(request):
            count += 1
        return count / (time.perf_counter() - started)

    await once(8)  # load and warm up
    rates = [await once(max_tokens) for _ in range(runs)]
    await chat.aclose()
    return rates


def measure(which: str, model: Path, runs: int, max_tokens: int) -> list[float]:
    """Run one side in a fresh process; returns its tokens/s per run."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.bench_local_throughput",
            "--side",
            which,
            "--model",
            str(model),
            "--runs",
            str(runs),
            "--max-tokens",
            str(max_tokens),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="process pairs to alternate")
    parser.add_argument("--runs", type=int, default=3, help="generations per process")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--side", choices=("raw", "termmate"), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "raw":
        print(json.dumps(raw_rates(args.model, args.runs, args.max_tokens)))
        return 0
    if args.side == "termmate":
        print(json.dumps(asyncio.run(termmate_rates(args.model, args.runs, args.max_tokens))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_gguf(Path(tmp) / "bench.gguf", SPEC)
        base: list[float] = []
        ours: list[float] = []
        for _ in range(args.rounds):
            base += measure("raw", model, args.runs, args.max_tokens)
            ours += measure("termmate", model, args.runs, args.max_tokens)
    ratio = median(ours) / median(base)
    report(
        "local throughput (llama.cpp, same GGUF and prompt, greedy, "
        f"{args.max_tokens} tokens per reply)",
        [
            f"raw llama-cpp-python   median {median(base):8.1f} tokens/s",
            f"termmate LocalChat     median {median(ours):8.1f} tokens/s",
            f"ratio {ratio:.3f}× (goal ≥ 0.95×: {verdict(ratio >= 0.95)}), "
            f"{len(base)} replies each, fresh process per {args.runs}",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
