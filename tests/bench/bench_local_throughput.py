"""Local throughput: tokens/s through termmate's local backend vs raw llama-cpp-python.

Same GGUF (random weights, big enough that each token costs real compute), same prompt, greedy
sampling so both paths generate the same tokens; runs alternate; medians. Goal ≥ 0.95×.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.bench._stats import median, report, verdict
from tests.support.tiny_gguf import TinyModelSpec, write_tiny_gguf

PROMPT = [{"role": "user", "content": "Tell me a long story about a cat and a robot."}]
SPEC = TinyModelSpec(n_embd=512, n_layer=6, n_head=8, n_head_kv=8, n_ff=1536, seed=7)


def raw_run(llama, max_tokens: int) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    for chunk in llama.create_chat_completion(
        messages=PROMPT, max_tokens=max_tokens, temperature=0.0, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            count += 1
    return count, time.perf_counter() - started


async def termmate_run(chat, max_tokens: int) -> tuple[int, float]:
    from agent.llm.types import ChatRequest

    request = ChatRequest(messages=PROMPT, max_tokens=max_tokens, temperature=0.0)
    started = time.perf_counter()
    count = 0
    async for _ in chat.stream(request):
        count += 1
    return count, time.perf_counter() - started


async def main_async(runs: int, max_tokens: int) -> None:
    from llama_cpp import Llama

    from agent.llm.local import LocalChat
    from config import LocalSettings

    with tempfile.TemporaryDirectory() as tmp:
        path = write_tiny_gguf(Path(tmp) / "bench.gguf", SPEC)
        settings = LocalSettings(chat_model=str(path), n_ctx=2048, threads=2)
        chat = LocalChat(settings, Path(tmp), allow_download=False)
        await chat.worker.load()
        raw = Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False)
        raw_run(raw, 8)  # warm both
        await termmate_run(chat, 8)
        ours, base, counts = [], [], set()
        for _ in range(runs):
            n, seconds = raw_run(raw, max_tokens)
            base.append(n / seconds)
            counts.add(n)
            n, seconds = await termmate_run(chat, max_tokens)
            ours.append(n / seconds)
            counts.add(n)
        raw.close()
        await chat.aclose()
    ratio = median(ours) / median(base)
    report(
        "local throughput (llama.cpp, same GGUF and prompt, greedy)",
        [
            f"raw llama-cpp-python   median {median(base):8.1f} tokens/s",
            f"termmate LocalChat     median {median(ours):8.1f} tokens/s",
            f"ratio {ratio:.3f}× (goal ≥ 0.95×: {verdict(ratio >= 0.95)}), {runs} runs each, "
            f"tokens per run {sorted(counts)}",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(main_async(args.runs, args.max_tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
