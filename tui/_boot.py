"""The TUI's start-up, after its first paint: the settings, then the agent, then the Companion.

Each step either gives the app what it needs or a ``BootFailure`` saying what went wrong and
whether the app should exit (bad settings, unreadable data) or stay open showing why.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _exit

if TYPE_CHECKING:
    from agent import Companion
    from config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BootFailure:
    """Start-up could not go on."""

    message: str
    exit_code: int | None
    """Exit with this status, printing ``message``; None: stay open, showing it."""


async def load_app_settings(
    config_file: Path | None, overrides: dict[str, Any]
) -> Settings | BootFailure:
    """The settings (read off the event loop), with logging set up to the log file."""
    from config import SettingsError, load_settings

    try:
        settings = await asyncio.to_thread(load_settings, config_file, overrides)
    except SettingsError as exc:
        return BootFailure(f"termmate: {exc}", _exit.USAGE)
    from ._logging import setup_logging

    setup_logging(settings.log_file)
    return settings


async def start_companion(settings: Settings) -> Companion | BootFailure:
    """The Companion, built from ``settings``; importing the agent happens off the event loop
    (LangGraph takes a while), so typing stays smooth meanwhile."""
    await asyncio.to_thread(_import_agent)
    from agent import Companion
    from agent.errors import StartupError

    try:
        return await Companion.create(settings)
    except StartupError as exc:  # 2: settings to change; 1: data or a database to see to
        return BootFailure(f"termmate: {exc.reason}", exc.exit_code)
    except Exception as exc:
        log.exception("could not start the companion")
        return BootFailure(f"could not start: {exc} (details in {settings.log_file})", None)


def _import_agent() -> None:
    import agent.companion
    import agent.graph  # noqa: F401
