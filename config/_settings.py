"""The settings model: nested sections, each field documented, precedence handled by sources."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._agent import AgentSettings
from ._endpoints import LLMSettings, LocalSettings
from ._hearing import ASRSettings, ListenSettings
from ._keys import KeySettings
from ._memory import EmbedSettings, MemorySettings
from ._mode import Mode
from ._paths import default_data_dir
from ._server import ServerSettings
from ._store import StoreSettings
from ._vision import VisionSettings, VLMSettings
from ._voice import AudioSettings, TTSSettings

# The settings file's contents for the Settings being built (set by the loader): a layer
# between the environment and the defaults.
FILE_VALUES: ContextVar[Mapping[str, Any] | None] = ContextVar("FILE_VALUES", default=None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "user"


ENV_PREFIX = "TERMMATE_"
ENV_DELIMITER = "__"


def env_name(key: str) -> str:
    """The environment variable that sets ``key``: "llm.url" -> "TERMMATE_LLM__URL"."""
    return ENV_PREFIX + key.upper().replace(".", ENV_DELIMITER)


class Settings(BaseSettings):
    """Everything termmate can be told. Precedence: flags > environment > file > defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        validate_assignment=True,
        use_attribute_docstrings=True,
    )

    mode: Mode = Mode.AUTO
    """auto (remote when reachable, else local), online (remote only) or offline (local only)."""
    user_id: str = Field(default_factory=_os_user, min_length=1)
    """Whose conversations and memories these are. Default: the OS user name."""
    data_dir: Path = Field(default_factory=default_data_dir)
    """Where threads, memories, downloaded models and logs live."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    """The remote chat model."""
    local: LocalSettings = Field(default_factory=LocalSettings)
    """In-process models for offline mode and the auto-mode fallback."""
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    """The remote embedding model (long-term memory)."""
    memory: MemorySettings = Field(default_factory=MemorySettings)
    """Long-term memory."""
    vlm: VLMSettings = Field(default_factory=VLMSettings)
    """The remote vision-language model."""
    vision: VisionSettings = Field(default_factory=VisionSettings)
    """Screen capture."""
    tts: TTSSettings = Field(default_factory=TTSSettings)
    """The Fish Speech server."""
    audio: AudioSettings = Field(default_factory=AudioSettings)
    """Local playback."""
    asr: ASRSettings = Field(default_factory=ASRSettings)
    """The remote speech recogniser."""
    listen: ListenSettings = Field(default_factory=ListenSettings)
    """Listening through the microphone."""
    agent: AgentSettings = Field(default_factory=AgentSettings)
    """How the companion talks."""
    keys: KeySettings = Field(default_factory=KeySettings)
    """Key bindings (Textual key names)."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    """The HTTP service (`termmate serve`)."""
    store: StoreSettings = Field(default_factory=StoreSettings)
    """Where conversations and memories live: embedded files, or a shared PostgreSQL."""

    # Filled in by the loader; the file the TUI writes the chosen mode back to.
    _config_file: Path | None = PrivateAttr(default=None)
    # Filled in by the loader: renamed keys still used by their old names.
    _deprecated: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_source = InitSettingsSource(settings_cls, init_kwargs=dict(FILE_VALUES.get() or {}))
        return (init_settings, env_settings, file_source)

    @property
    def config_file(self) -> Path | None:
        """The settings file these settings were read from (and that mode changes go to)."""
        return self._config_file

    @property
    def deprecated(self) -> list[str]:
        """Notes on renamed keys still used by their old names (they work for one release)."""
        return list(self._deprecated)

    @property
    def threads_db(self) -> Path:
        """LangGraph checkpoints and thread metadata."""
        return self.data_dir / "threads.sqlite"

    @property
    def models_dir(self) -> Path:
        """Downloaded models (GGUF files, CTranslate2 folders)."""
        return self.data_dir / "models"

    @property
    def log_file(self) -> Path:
        """The log file (the TUI owns the terminal, so logs go here)."""
        return self.data_dir / "logs" / "termmate.log"
