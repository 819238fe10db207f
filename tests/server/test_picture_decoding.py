"""Pictures sent with messages are decoded a few at a time, however many requests bring them:
a decoded picture can take hundreds of MB, and requests decode before they wait for a turn."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import threading
import time
from typing import Any

import pytest
from PIL import Image

import vision
from config import load_settings
from server._admission import TurnSlots
from server._service import Service
from server._turns import _pictures


def _png(side: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (30, 120, 200)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


async def test_many_requests_decode_their_pictures_a_few_at_a_time(
    termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    service = Service(companion=None, settings=settings, slots=TurnSlots(64, 1.0))
    decoding, most = 0, 0
    lock = threading.Lock()
    prepare = vision.prepare_picture

    def watched(data: bytes, **options: Any) -> bytes:  # the real decoder, counted
        nonlocal decoding, most
        with lock:
            decoding += 1
            most = max(most, decoding)
        try:
            time.sleep(0.05)  # long enough for every request to be under way at once
            return prepare(data, **options)
        finally:
            with lock:
                decoding -= 1

    monkeypatch.setattr(vision, "prepare_picture", watched)
    picture = _png(1200)
    results = await asyncio.gather(*(_pictures([picture], service) for _ in range(16)))
    assert all(jpeg[:2] == b"\xff\xd8" for (jpeg,) in results)
    assert most == min(4, os.cpu_count() or 1)
