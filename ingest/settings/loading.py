"""Reading the configuration: the TOML file, the environment, secret files; errors name the key."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import (
    BaseModel,
    SecretStr,
    ValidationError,
)

from ingest.errors import ConfigError
from ingest.settings.sections import Settings

__all__ = ["ENV_PREFIX", "load_settings"]

ENV_PREFIX = "CITY_INGEST_"
_SECRET_KEYS = {
    "password",
    "token",
    "pseudonym_key",
    "tts_password",
    "chirpstack_password",
    "kpn_shared_secret",
}


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the configuration; ``ConfigError`` names the key and the fix."""
    env = os.environ if environ is None else environ
    raw = _read_toml(path)
    _apply_environment(raw, env)
    _read_secret_files(raw, env, path.parent)
    _resolve_paths(raw, path.parent)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            "--config", f"cannot read {path} ({exc.strerror})", "pass an existing TOML file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("--config", f"{path} is not UTF-8 text", "save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            "--config", f"{path} is not valid TOML ({exc})", "fix the syntax"
        ) from exc


def _apply_environment(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        where = _env_key(name)
        if where is None or _is_secret_file(where[1]):
            continue  # secret files are read by _read_secret_files
        section, key = where
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(
                name,
                f"[{section}] is a list of tables, which the environment cannot set",
                "set it in the config file",
            )
        table[key] = value if _wants_text(section, key) else _parse_env_value(value)


def _env_key(name: str) -> tuple[str, str] | None:
    """``CITY_INGEST_MQTT__PORT`` → ``("mqtt", "port")``; None for other variables."""
    if not name.startswith(ENV_PREFIX) or "__" not in name:
        return None
    section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
    return section, key


def _is_secret_file(key: str) -> bool:
    return key.endswith("_file") and key.removesuffix("_file") in _SECRET_KEYS


def _wants_text(section: str, key: str) -> bool:
    """True if the setting is text, so that e.g. a numeric password stays a string."""
    section_field = Settings.model_fields.get(section)
    model = None if section_field is None else section_field.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return False
    field = model.model_fields.get(key)
    if field is None:
        return False
    return bool({field.annotation, *get_args(field.annotation)} & {str, SecretStr, Path})


def _parse_env_value(value: str) -> object:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _read_secret_files(raw: dict[str, Any], env: Mapping[str, str], base: Path) -> None:
    """``<key>_file`` in the TOML (relative to ``base``) or ``…_FILE`` variables (winning)."""
    files: dict[tuple[str, str], tuple[Path, str]] = {}
    for section, table in raw.items():
        if not isinstance(table, dict):
            continue
        for key in _SECRET_KEYS:
            file_name = table.pop(f"{key}_file", None)
            if file_name is not None:
                files[section, key] = (base / str(file_name), f"{section}.{key}_file")
    for name, file_name in env.items():
        where = _env_key(name)
        if where is not None and _is_secret_file(where[1]):
            files[where[0], where[1].removesuffix("_file")] = (Path(file_name), name)
    for (section, key), (path, origin) in files.items():
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = _read_secret(path, origin)


def _read_secret(path: Path, where: str) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(
            where,
            f"cannot read the secret file {path} ({problem})",
            "point it at a readable file holding only the secret",
        ) from exc
    if not secret:
        raise ConfigError(where, f"the secret file {path} is empty", "write the secret into it")
    return secret


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for section, key in (
        ("registry", "path"),
        ("decoders", "path"),
        ("spool", "dir"),
        ("dead_letter", "dir"),
        ("mqtt", "ca_file"),
        ("processors", "state_dir"),
        ("webhooks", "tls_cert"),
        ("webhooks", "tls_key"),
    ):
        table = raw.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str):
            table[key] = str((base / table[key]).resolve())


def _config_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    loc = first["loc"]
    key = ".".join(str(part) for part in loc)
    kind = first["type"]
    if kind == "missing":
        section = "[[sources]]" if loc[0] == "sources" else f"[{loc[0]}]"
        where = f"a {section} section" if len(loc) == 1 else f"it to the {section} section"
        return ConfigError(
            key, "is required but missing", f"add {where} (see config/city-ingest.toml)"
        )
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return ConfigError(key, "is not a known setting", _spelling_fix(loc))
    fix = "fix the value (config/city-ingest.toml shows each key)"
    message = str(first["msg"])
    if kind == "value_error":  # our validators write "problem; fix"
        problem, _, own_fix = message.removeprefix("Value error, ").partition("; ")
        return ConfigError(key, problem, own_fix or fix)
    value = first.get("input")
    secret = any(str(part) in _SECRET_KEYS for part in loc)
    if secret or isinstance(value, dict | list):
        return ConfigError(key, message, fix)  # never echo a secret or a whole table
    return ConfigError(key, f"{message} (got {value!r})", fix)


def _spelling_fix(loc: tuple[int | str, ...]) -> str:
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, str):
            annotation = model.model_fields[part].annotation
            model = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"fix its spelling{hint} or remove it (config/city-ingest.toml shows each key)"
