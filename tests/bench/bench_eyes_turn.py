"""A turn with the eyes on vs off, against scripted servers with a fixed VLM latency.

Goal: eyes on adds no more than the VLM's own latency + 10 ms. The screen changes before every
eyes-on turn so the VLM is really asked (an unchanged screen would reuse the last description).
The VLM's own latency is measured in the same run: the same JPEG sent straight to the scripted
VLM with a bare httpx client. Turns alternate eyes off / eyes on; medians.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from agent.threads import new_thread_id
from tests.bench._stats import median, report, verdict
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.scripted_vlm import ScriptedVLM, description
from tests.support.xvfb import xvfb

TYPING_S = 0.4


def picture(i: int) -> Image.Image:
    image = Image.new("RGB", (1920, 1080), (40, 40, 48))
    draw = ImageDraw.Draw(image)
    draw.rectangle((100 + 40 * (i % 20), 100, 900 + 40 * (i % 20), 700), fill=(200, 200, 210))
    draw.text((120, 120), f"frame {i}", fill=(10, 10, 10), font_size=40)
    return image


async def raw_vlm(client, url: str, jpeg: bytes) -> float:
    body = {
        "model": "scripted-vlm",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the screen."},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
                        },
                    },
                ],
            }
        ],
    }
    started = time.perf_counter()
    response = await client.post(f"{url}/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - started


async def run(turns: int, vlm_ms: float) -> None:
    import httpx

    from agent import Companion
    from agent.events import Perceived, TurnFinished
    from config import load_settings

    with tempfile.TemporaryDirectory() as tmp, xvfb(Path(tmp)) as screen:
        os.environ["DISPLAY"] = screen.display
        chat_reply = Reply.of(*[f" w{i}" for i in range(10)], first_token_delay_s=0.05)
        vlm_reply = description("A window on a dark desktop.", delay_s=vlm_ms / 1000)
        with ScriptedOpenAI(default=chat_reply) as chat, ScriptedVLM(default=vlm_reply) as vlm:
            os.environ.update(
                {
                    "TERMMATE_DATA_DIR": str(Path(tmp) / "data"),
                    "TERMMATE_CONFIG": str(Path(tmp) / "settings.toml"),
                    "TERMMATE_MODE": "online",
                    "TERMMATE_LLM__URL": chat.url,
                    "TERMMATE_VLM__URL": vlm.url,
                    "TERMMATE_MEMORY__ENABLED": "false",
                }
            )
            companion = await Companion.create(load_settings())
            client = httpx.AsyncClient(timeout=30)
            try:
                thread = new_thread_id()
                screen.show(picture(0))
                async for _ in companion.turn(thread, "warm up", look=True):
                    pass
                jpeg = vlm.images()[-1].data
                off, on, typed, raw, looks, described = [], [], [], [], [], 0
                for i in range(1, turns + 1):
                    raw.append(await raw_vlm(client, vlm.url, jpeg))
                    started = time.perf_counter()
                    async for event in companion.turn(thread, f"off {i}", look=False):
                        if isinstance(event, TurnFinished):
                            off.append(time.perf_counter() - started)
                    screen.show(picture(i))
                    started = time.perf_counter()
                    async for event in companion.turn(thread, f"on {i}", look=True):
                        if isinstance(event, Perceived) and not event.reused:
                            described += 1
                            looks.append(event.elapsed_ms / 1000)
                        if isinstance(event, TurnFinished):
                            on.append(time.perf_counter() - started)
                    # As in the TUI: looking starts at the first keystroke; typing takes a while.
                    screen.show(picture(i + 100))
                    companion.eyes.glance()
                    await asyncio.sleep(TYPING_S)
                    started = time.perf_counter()
                    async for event in companion.turn(thread, f"typed {i}", look=True):
                        if isinstance(event, TurnFinished):
                            typed.append(time.perf_counter() - started)
            finally:
                await client.aclose()
                await companion.aclose()
    added = (median(on) - median(off)) * 1000
    vlm_own = median(raw) * 1000
    report(
        f"eyes on vs off ({turns} turns each, scripted VLM latency {vlm_ms:.0f} ms)",
        [
            f"VLM's own latency (bare httpx, same JPEG)  median {vlm_own:7.1f} ms",
            f"turn, eyes off                             median {median(off) * 1000:7.1f} ms",
            f"turn, eyes on                              median {median(on) * 1000:7.1f} ms",
            f"eyes on adds {added:.1f} ms = VLM + {added - vlm_own:.1f} ms "
            f"(goal ≤ VLM + 10 ms: {verdict(added <= vlm_own + 10)}); "
            f"{described}/{turns} eyes-on turns asked the VLM",
            f"  of which the look itself (capture, encode, VLM)  median "
            f"{median(looks) * 1000:7.1f} ms = VLM + {median(looks) * 1000 - vlm_own:.1f} ms",
            f"turn, eyes on, looking began at the first keystroke ({TYPING_S * 1000:.0f} ms "
            f"of typing, as in the TUI)  median {median(typed) * 1000:7.1f} ms: adds "
            f"{(median(typed) - median(off)) * 1000:.1f} ms",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--vlm-ms", type=float, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.vlm_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
