"""The flags every ``termmate`` command takes, and the settings they make.

They live here, not in the entry point (``tui.cli``), so the modules that add and run
subcommands share them without importing the entry point back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import _exit

MODES = ("auto", "online", "offline")


def common_flags() -> argparse.ArgumentParser:
    """A parent parser with ``--config``, ``--mode`` and ``--data-dir``, for the main parser
    and every subcommand's (so the flags work before or after the command's name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="settings file (default: $TERMMATE_CONFIG or settings.toml in the user config dir)",
    )
    common.add_argument(
        "--mode", choices=MODES, default=argparse.SUPPRESS, help="override the mode for this run"
    )
    common.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="where threads, memories, models and logs live (default: $TERMMATE_DATA_DIR)",
    )
    return common


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line, nested like the settings file."""
    overrides: dict[str, Any] = {}
    if getattr(args, "mode", None):
        overrides["mode"] = args.mode
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    server = {key: getattr(args, key) for key in ("host", "port") if hasattr(args, key)}
    if server:  # termmate serve --host/--port
        overrides["server"] = server
    if getattr(args, "store_url", None) is not None:  # termmate store migrate --to URL
        overrides["store"] = {"url": args.store_url}
    return overrides


def load_settings_or_exit(args: argparse.Namespace) -> Any:
    """Settings for a subcommand; exits 2 with the reason when they are malformed."""
    from config import SettingsError, load_settings

    try:
        settings = load_settings(getattr(args, "config", None), overrides_from(args))
    except SettingsError as exc:
        print(f"termmate: {exc}", file=sys.stderr)
        raise SystemExit(_exit.USAGE) from None
    for note in settings.deprecated:
        print(f"termmate: warning: {note}", file=sys.stderr)
    return settings
