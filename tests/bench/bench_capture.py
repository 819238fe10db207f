"""Capture + downscale + encode at 1920×1080 vs a raw mss grab, in the same run.

Starts its own Xvfb showing a text-heavy, editor-like picture (JPEG cost depends on content),
then alternates the two measurements on one thread: the raw baseline is ``mss.MSS().grab`` of
the monitor; ours is what every look does (``vision.Grabber.grab``: grab and change signature; then
``Frame.image``: box downscale to ``vision.max_side`` in strips over the cores and channel
reorder; then ``encode_jpeg``). Goal: ours ≤ 3× the raw grab (medians). The async path (one
hop to the capture thread) is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tests.bench._stats import median, percentile, report, verdict

WIDTH, HEIGHT = 1920, 1080
GOAL = 3.0


def editor_picture() -> Image.Image:
    """A dark editor full of coloured code, a side bar and a dialog: a realistic screen."""
    rng = random.Random(7)
    picture = Image.new("RGB", (WIDTH, HEIGHT), (30, 30, 36))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 300, HEIGHT), fill=(45, 45, 52))
    words = "def class return async await import self value frame screen model capture".split()
    for y in range(8, HEIGHT - 20, 22):
        draw.text((12, y), f"file_{y}.py", fill=(170, 170, 180), font_size=16)
        line = " ".join(rng.choice(words) for _ in range(rng.randint(2, 16)))
        colour = (rng.randint(120, 255), rng.randint(120, 255), rng.randint(120, 255))
        draw.text((320 + rng.randint(0, 120), y), line, fill=colour, font_size=18)
    draw.rectangle((1250, 300, 1800, 620), fill=(235, 235, 235), outline=(90, 90, 90))
    draw.text((1280, 330), "Error: something went wrong", fill=(180, 20, 20), font_size=24)
    return picture


def nearest_pipeline(sct: Any, monitor: Any, max_side: int, quality: int) -> bytes:
    """For reference only: the same steps with nearest-neighbour instead of box downscaling.

    Faster, but at 1920→1280 it drops every third pixel row and column, so one-pixel strokes
    of text vanish; termmate does not use it.
    """
    from vision import encode_jpeg, scaled_size, signature_of

    shot = sct.grab(monitor)
    bgrx = Image.frombuffer("RGBX", shot.size, shot.raw, "raw", "RGBX", 0, 1)
    small = bgrx.resize(scaled_size(shot.size, max_side), Image.Resampling.NEAREST)
    blue, green, red, _ = small.split()
    rgb = Image.merge("RGB", (red, green, blue))
    signature_of(rgb)
    return encode_jpeg(rgb, quality)


def measure(runs: int, max_side: int, quality: int) -> tuple[list[float], dict[str, list[float]]]:
    import mss

    from config import VisionSettings
    from vision import Grabber, encode_jpeg
    from vision.frame import strip_workers

    settings = VisionSettings(max_side=max_side, jpeg_quality=quality)
    strips = ThreadPoolExecutor(strip_workers())  # as ScreenCapture lends its Grabber
    grabber = Grabber(settings, strips)
    raw_sct = mss.MSS()
    monitor = raw_sct.monitors[settings.monitor]
    for _ in range(5):  # warm up both: connections, caches, allocator
        raw_sct.grab(monitor)
        encode_jpeg(grabber.grab().image, quality)

    raw: list[float] = []
    ours: dict[str, list[float]] = {
        "total": [],
        "grab+signature": [],
        "downscale": [],
        "encode": [],
        "nearest": [],
    }
    for _ in range(runs):
        started = time.perf_counter()
        raw_sct.grab(monitor)
        raw.append(time.perf_counter() - started)

        started = time.perf_counter()
        frame = grabber.grab()
        grabbed = time.perf_counter()
        image = frame.image  # downscaled on first use
        downscaled = time.perf_counter()
        encode_jpeg(image, quality)
        done = time.perf_counter()
        ours["total"].append(done - started)
        ours["grab+signature"].append(grabbed - started)
        ours["downscale"].append(downscaled - grabbed)
        ours["encode"].append(done - downscaled)
    for _ in range(runs):  # apart: interleaved, its big buffers would slow the others' caches
        started = time.perf_counter()
        nearest_pipeline(raw_sct, monitor, max_side, quality)
        ours["nearest"].append(time.perf_counter() - started)
    grabber.close()
    strips.shutdown()
    raw_sct.close()
    return raw, ours


async def measure_async(runs: int, max_side: int, quality: int) -> list[float]:
    from config import VisionSettings
    from vision import ScreenCapture

    capture = ScreenCapture(VisionSettings(max_side=max_side, jpeg_quality=quality))
    times = []
    try:
        for index in range(runs + 5):
            started = time.perf_counter()
            await capture.snapshot()
            if index >= 5:
                times.append(time.perf_counter() - started)
    finally:
        await capture.aclose()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--max-side", type=int, default=1280)
    parser.add_argument("--quality", type=int, default=80)
    args = parser.parse_args()

    from tests.support.xvfb import xvfb

    missing = [tool for tool in ("Xvfb", "feh") if shutil.which(tool) is None]
    if missing:
        print(f"needs {' and '.join(missing)} (apt-get install xvfb feh)")
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="bench-capture-") as scratch,
        xvfb(Path(scratch), WIDTH, HEIGHT) as server,
    ):
        os.environ["DISPLAY"] = server.display
        os.environ.pop("WAYLAND_DISPLAY", None)
        server.show(editor_picture())
        raw, ours = measure(args.runs, args.max_side, args.quality)
        via_thread = asyncio.run(measure_async(args.runs, args.max_side, args.quality))

    ms = 1000
    raw_median = median(raw)
    ratio = median(ours["total"]) / raw_median
    lines = [
        f"raw mss grab {WIDTH}×{HEIGHT}        median {raw_median * ms:6.2f} ms"
        f"  p95 {percentile(raw, 95) * ms:6.2f} ms",
        f"capture+downscale+encode      median {median(ours['total']) * ms:6.2f} ms"
        f"  p95 {percentile(ours['total'], 95) * ms:6.2f} ms"
        f"  (→ {args.max_side} px, JPEG q{args.quality})",
    ]
    for step in ("grab+signature", "downscale", "encode"):
        lines.append(f"  of which {step:<15} median {median(ours[step]) * ms:6.2f} ms")
    nearest = median(ours["nearest"])
    lines += [
        f"(reference, not used: nearest-neighbour downscale median {nearest * ms:6.2f} ms, "
        f"{nearest / raw_median:.2f}×; it loses thin text strokes)",
        f"async (capture thread hop)    median {median(via_thread) * ms:6.2f} ms",
        f"ratio {ratio:.2f}× the raw grab (goal ≤ {GOAL:.1f}×: {verdict(ratio <= GOAL)}), "
        f"{args.runs} runs each, alternating",
    ]
    report("screen capture: ours vs a raw mss grab (Xvfb)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
