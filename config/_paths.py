"""Where termmate keeps its settings and data (platformdirs, overridable)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "termmate"
CONFIG_ENV = "TERMMATE_CONFIG"


def default_config_file() -> Path:
    """The settings file: ``$TERMMATE_CONFIG``, else ``settings.toml`` in the user config dir."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / "settings.toml"


def default_data_dir() -> Path:
    """The per-user data directory (threads, memory, models, logs)."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME)
