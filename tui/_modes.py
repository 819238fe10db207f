"""Ctrl+O: the next mode (auto → online → offline), kept in the settings file for next time."""

from __future__ import annotations

import asyncio
import os
from typing import Any


async def cycle_mode(companion: Any, settings: Any, overrides: dict[str, Any]) -> str:
    """Switch ``companion`` to the next mode and save it; returns what to tell the user
    (where it was saved, or why not, and whether the environment or a flag will override it)."""
    from config import save_setting

    mode = companion.router.mode.next()
    await companion.set_mode(mode)
    message = f"mode: {mode}"
    if settings.config_file is not None:
        try:
            await asyncio.to_thread(save_setting, settings.config_file, "mode", str(mode))
            message += f" (saved to {settings.config_file})"
        except Exception as exc:
            message += f" (not saved: {exc})"
    if os.environ.get("TERMMATE_MODE") or "mode" in overrides:
        message += "; note: TERMMATE_MODE or --mode overrides the file at next start"
    return message
