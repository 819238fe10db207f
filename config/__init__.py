"""termmate's settings: one pydantic-settings model, read from flags, environment and file.

This package imports nothing else of termmate's and never imports Textual.
"""

from ._agent import AgentSettings
from ._endpoints import EndpointSettings, LLMSettings, LocalSettings, SectionModel
from ._hearing import WHISPER_LANGUAGES, ASRSettings, ListenSettings
from ._keys import KeySettings
from ._loader import SettingsError, load_settings, read_settings_file
from ._memory import EmbedSettings, MemorySettings
from ._mode import Mode
from ._paths import default_config_file, default_data_dir
from ._private import private_dir, private_umask
from ._redact import redact_secrets, redact_url, split_userinfo
from ._server import ServerSettings
from ._settings import Settings, env_name
from ._status import ServiceState, ServiceStatus
from ._store import StoreSettings, describe_database
from ._vision import VisionSettings, VLMSettings
from ._voice import AudioSettings, TTSSettings, check_voice_name
from ._writer import save_setting

__all__ = [
    "WHISPER_LANGUAGES",
    "ASRSettings",
    "AgentSettings",
    "AudioSettings",
    "EmbedSettings",
    "EndpointSettings",
    "KeySettings",
    "LLMSettings",
    "ListenSettings",
    "LocalSettings",
    "MemorySettings",
    "Mode",
    "SectionModel",
    "ServerSettings",
    "ServiceState",
    "ServiceStatus",
    "Settings",
    "SettingsError",
    "StoreSettings",
    "TTSSettings",
    "VLMSettings",
    "VisionSettings",
    "check_voice_name",
    "default_config_file",
    "default_data_dir",
    "describe_database",
    "env_name",
    "load_settings",
    "private_dir",
    "private_umask",
    "read_settings_file",
    "redact_secrets",
    "redact_url",
    "save_setting",
    "split_userinfo",
]
