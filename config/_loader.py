"""Read settings from flags, environment and file; say exactly what is wrong when they are."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_settings import SettingsError as PydanticSettingsError

from ._paths import default_config_file
from ._redact import redact_secrets, redact_url
from ._settings import FILE_VALUES, Settings, env_name


class SettingsError(Exception):
    """Settings that cannot be used, with where the problem is and what is expected."""


def load_settings(
    config_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build Settings: ``overrides`` (command-line flags) > environment > file > defaults.

    ``overrides`` is nested like the file: ``{"mode": "offline", "llm": {"url": ...}}``.
    Raises SettingsError naming the file, key or variable at fault and what it should be.
    """
    path = (config_file or default_config_file()).expanduser()
    file_values = read_settings_file(path)
    token = FILE_VALUES.set(file_values)
    try:
        settings = Settings(**dict(overrides or {}))
    except ValidationError as exc:
        raise SettingsError(_explain(exc, path, file_values, overrides or {})) from None
    except PydanticSettingsError as exc:
        raise SettingsError(_explain_environment(exc)) from None
    finally:
        FILE_VALUES.reset(token)
    settings._config_file = path
    settings._deprecated = deprecated_keys(path, file_values)
    return settings


def deprecated_keys(path: Path, file_values: Mapping[str, Any]) -> list[str]:
    """A note for each renamed key still used by its old name, in the file or the environment
    (it still works for this release)."""
    notes = []
    for section, field in Settings.model_fields.items():
        renamed = getattr(field.annotation, "RENAMED", None) or {}
        given = file_values.get(section)
        for old, new in renamed.items():
            env_old = f"TERMMATE_{section.upper()}__{old.upper()}"
            if env_old in os.environ:
                env_new = f"TERMMATE_{section.upper()}__{new.upper()}"
                notes.append(
                    f"environment variable {env_old} is deprecated: use {env_new} "
                    "(the old name stops working in the next release)"
                )
            if isinstance(given, Mapping) and old in given:
                notes.append(
                    f"{path}: key '{old}' in [{section}] is deprecated: rename it '{new}' "
                    "(the old name stops working in the next release)"
                )
    return notes


def _explain_environment(exc: PydanticSettingsError) -> str:
    """A section given whole in one environment variable (``TERMMATE_LLM='{...}'``) that is not
    JSON: pydantic-settings says which field, not which variable or what to do."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else None
    if field is None:
        return f"invalid settings in the environment: {exc}"
    name = f"TERMMATE_{field.upper()}"
    keys = _known_keys((field,))
    key = "url" if "url" in keys else next(iter(keys), None)
    example = f" (e.g. {name}__{key.upper()})" if key else ""
    return (
        f"environment variable {name} is not a valid JSON object for the [{field}] section; "
        f"set its keys one by one instead{example}, or unset {name}"
    )


def read_settings_file(path: Path) -> dict[str, Any]:
    """The TOML file as a dict; a missing file is empty, an unreadable one an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"settings file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"settings file {path} is not valid TOML: {exc}. "
            'Expected lines like  mode = "auto"  and sections like  [llm].'
        ) from None


def _explain(
    exc: ValidationError, path: Path, file_values: Mapping[str, Any], overrides: Mapping[str, Any]
) -> str:
    problems = [_explain_one(err, path, file_values, overrides) for err in exc.errors()]
    return "invalid settings:\n" + "\n".join(f"  - {p}" for p in problems)


def _explain_one(
    err: Any, path: Path, file_values: Mapping[str, Any], overrides: Mapping[str, Any]
) -> str:
    loc = tuple(str(part) for part in err["loc"])
    key = ".".join(loc)
    variable = env_name(key)
    if _lookup(overrides, loc) is not _MISSING:
        where = f"command-line option for {key}"
    elif variable in os.environ:
        where = f"environment variable {variable}"
    elif _lookup(file_values, loc) is not _MISSING:
        section = ".".join(loc[:-1])
        where = f"{path}: key '{loc[-1]}'" + (f" in [{section}]" if section else "")
    else:
        where = f"setting {key}"

    if err["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = f"; expected one of: {', '.join(known)}" if known else ""
        return f"{where}: unknown key '{loc[-1]}'{hint}"
    shown = _shown_value(loc, err.get("input"))
    message = redact_secrets(str(err["msg"]).removeprefix("Value error, "))
    return f"{where} = {shown}: {message}"


def _shown_value(loc: tuple[str, ...], value: Any) -> str:
    """The rejected value as the message shows it: never a key, password or token."""
    annotation = _annotation_at(loc)
    if _is_secret(annotation):
        return repr(_HIDDEN)
    if loc and loc[-1] == "url" and isinstance(value, str):
        return repr(redact_url(value))
    # A whole section (``[[server]]``, a list) may hold secret fields; any other value may
    # still quote a URL with credentials in it.
    return redact_secrets(repr(_hide_secrets(annotation, value)))


class _Hidden:
    """Stands in for a secret value in a message."""

    def __repr__(self) -> str:
        return "<hidden>"


_HIDDEN = _Hidden()
"""What a message shows instead of a secret (a SecretStr field's value)."""


def _annotation_at(loc: tuple[str, ...]) -> Any:
    """The type the settings model declares at ``loc``, as far down as a section's fields go
    (a list index or a union member's tag in ``loc`` ends the walk)."""
    annotation: Any = Settings
    for part in loc:
        model = _model_in(annotation)
        field = model.model_fields.get(part) if model else None
        if field is None:
            break
        annotation = field.annotation
    return annotation


def _is_secret(annotation: Any) -> bool:
    """Whether ``annotation`` is, or may be, a secret (``SecretStr``, ``SecretStr | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(_is_secret(arg) for arg in get_args(annotation))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings section (or Settings itself) ``annotation`` names, if it names one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_in, get_args(annotation))), None)


def _hide_secrets(annotation: Any, value: Any) -> Any:
    """``value``, given for ``annotation``, with the values of its secret fields hidden."""
    model = _model_in(annotation)
    if model is None:
        return value
    if isinstance(value, list | tuple):
        return [_hide_secrets(model, item) for item in value]
    if not isinstance(value, Mapping):
        return value
    renamed: Mapping[str, str] = getattr(model, "RENAMED", {})
    shown = {}
    for key, item in value.items():
        field = model.model_fields.get(renamed.get(key, key))
        if field is None:
            shown[key] = item
        elif _is_secret(field.annotation):
            shown[key] = _HIDDEN
        else:
            shown[key] = _hide_secrets(field.annotation, item)
    return shown


_MISSING = object()


def _lookup(values: Mapping[str, Any], loc: tuple[str, ...]) -> Any:
    node: Any = values
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _known_keys(section: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in section:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)
