"""Validated configuration: one pydantic model per section of ``config/city-ingest.toml``.

Sources of values, later ones winning: the TOML file, then environment variables
``CITY_INGEST_<SECTION>__<KEY>`` (e.g. ``CITY_INGEST_INFLUXDB__URL``). A secret ``X`` may also
be given as a path ``x_file`` in the TOML or ``CITY_INGEST_<SECTION>__<X>_FILE`` in the
environment; the file's content (stripped) is the secret. Secrets are ``SecretStr``: they never
show in a repr, a log line or ``check-config``. Unknown keys stop start-up. Relative paths are
resolved against the directory of the config file.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ingest.errors import ConfigError
from ingest.model import Network
from processors import AirConfig, NoiseConfig, WasteConfig

__all__ = [
    "DeadLetterSettings",
    "DedupSettings",
    "HttpSettings",
    "InfluxApi",
    "InfluxSettings",
    "MqttSettings",
    "PathSettings",
    "PrivacySettings",
    "ProcessorSettings",
    "Settings",
    "SourceSettings",
    "SpoolSettings",
    "load_settings",
]

ENV_PREFIX = "CITY_INGEST_"
_SECRET_KEYS = {"password", "token", "pseudonym_key"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    client_id: Annotated[str, Field(min_length=1, max_length=128)] = "city-ingest"
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 60
    qos: Literal[1] = 1
    clean_start: Literal[False] = False
    session_expiry: Annotated[int, Field(ge=60)] = 7 * 24 * 3600  # seconds the broker keeps us
    receive_maximum: Annotated[int, Field(ge=1, le=65535)] = 1000  # MQTT 5 in-flight window
    max_message_bytes: Annotated[int, Field(ge=256)] = 64 * 1024
    reconnect_min_delay: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_delay: Annotated[float, Field(gt=0)] = 30.0
    # connected but no message for this many seconds: logged, /metrics city_ingest_stalled,
    # /readyz note (the silent stall other ingest tools are known for)
    stall_after: Annotated[float, Field(gt=0)] = 900.0


class SourceSettings(_Section):
    network: Network
    topic: Annotated[str, Field(min_length=1)]

    @field_validator("topic")
    @classmethod
    def _valid_filter(cls, topic: str) -> str:
        levels = topic.split("/")
        for i, level in enumerate(levels):
            if "#" in level and (level != "#" or i != len(levels) - 1):
                msg = f"'#' must be a whole last level in '{topic}'; write e.g. 'kpn/things/#'"
                raise ValueError(msg)
            if "+" in level and level != "+":
                msg = f"'+' must be a whole level in '{topic}'; write e.g. 'v3/+/devices/+/up'"
                raise ValueError(msg)
        return topic


class InfluxApi(StrEnum):
    AUTO = "auto"
    V1 = "v1"
    V2 = "v2"


class InfluxSettings(_Section):
    url: str = "http://localhost:8086"
    api: InfluxApi = InfluxApi.AUTO
    database: str = "city"
    retention_policy: str | None = None
    bucket: str = "city"
    org: str | None = None
    token: SecretStr | None = Field(default=None, validate_default=True)
    username: str | None = None
    password: SecretStr | None = None
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000
    flush_interval: Annotated[float, Field(gt=0, le=60)] = 0.5
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    gzip: bool = True
    retry_min_delay: Annotated[float, Field(gt=0)] = 0.2
    retry_max_delay: Annotated[float, Field(gt=0)] = 10.0
    # seconds a stop waits for pending writes (Docker's stop grace period is 10 s); whatever
    # is still unwritten then stays unacknowledged and the broker redelivers it
    drain_timeout: Annotated[float, Field(gt=0)] = 8.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            msg = f"expected an http(s) URL, got '{url}'; add the scheme, e.g. 'http://{url}'"
            raise ValueError(msg)
        return url.rstrip("/")

    @field_validator("token")
    @classmethod
    def _v2_needs_token(cls, token: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if token is None and info.data.get("api") is InfluxApi.V2:
            msg = "api = 'v2' needs a token; set token_file or CITY_INGEST_INFLUXDB__TOKEN_FILE"
            raise ValueError(msg)
        return token


class PathSettings(_Section):
    path: Path


class DedupSettings(_Section):
    window: Annotated[float, Field(gt=0)] = 600.0  # seconds (contract §7 default: 10 minutes)
    max_entries: Annotated[int, Field(ge=1000)] = 2_000_000


class SpoolSettings(_Section):
    dir: Path = Path("var/spool")
    max_bytes: Annotated[int, Field(ge=1 << 20)] = 1 << 30
    after: Annotated[float, Field(ge=0)] = 2.0  # seconds of failing writes before spooling


class DeadLetterSettings(_Section):
    dir: Path = Path("var/dead-letter")
    max_bytes: Annotated[int, Field(ge=1 << 16)] = 256 << 20


class HttpSettings(_Section):
    listen: str = "127.0.0.1:9108"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        host, sep, port = listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            msg = f"expected 'host:port', got '{listen}'; e.g. '127.0.0.1:9108'"
            raise ValueError(msg)
        return listen


class ProcessorSettings(_Section):
    """``[processors]``: one sub-table per kind, mirroring the processors' own config classes
    (``processors.AirConfig``, ``NoiseConfig``, ``WasteConfig``), and where state is kept."""

    state_dir: Path = Path("var/state")
    air: AirConfig = AirConfig()
    noise: NoiseConfig = NoiseConfig()
    waste: WasteConfig = WasteConfig()


class PrivacySettings(_Section):
    pseudonym_key: SecretStr | None = None
    location_grid_m: Annotated[float, Field(gt=0)] = 250.0


class Settings(_Section):
    """The whole configuration; sections mirror ``config/city-ingest.toml``."""

    mqtt: MqttSettings = MqttSettings()
    sources: Annotated[list[SourceSettings], Field(min_length=1)]
    influxdb: InfluxSettings = InfluxSettings()
    registry: PathSettings
    decoders: PathSettings
    dedup: DedupSettings = DedupSettings()
    spool: SpoolSettings = SpoolSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    http: HttpSettings = HttpSettings()
    processors: ProcessorSettings = ProcessorSettings()
    privacy: PrivacySettings = PrivacySettings()


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
