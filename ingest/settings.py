"""Validated configuration: one pydantic model per section of ``config/city-ingest.toml``.

Sources of values, later ones winning: the TOML file, then environment variables
``CITY_INGEST_<SECTION>__<KEY>`` (e.g. ``CITY_INGEST_INFLUXDB__URL``). A secret ``X`` may also
be given as a path ``x_file`` in the TOML or ``CITY_INGEST_<SECTION>__<X>_FILE`` in the
environment; the file's content (stripped) is the secret. Secrets are ``SecretStr``: they never
show in a repr, a log line or ``check-config``. Unknown keys stop start-up. Relative paths are
resolved against the directory of the config file.
"""

from __future__ import annotations

import base64
import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ingest.errors import ConfigError
from ingest.integration_settings import BackfillSettings, WebhookSettings
from ingest.logs import LogFormat
from ingest.model import Network
from processors import AirConfig, NoiseConfig, WasteConfig
from processors.health import HealthConfig
from processors.qctests import DEFAULT_FIELDS as DEFAULT_QC_FIELDS
from processors.qctests import QualityConfig

__all__ = [
    "DeadLetterSettings",
    "DedupSettings",
    "HttpSettings",
    "InfluxApi",
    "InfluxSettings",
    "LoggingSettings",
    "MqttClient",
    "MqttSettings",
    "NatsSettings",
    "PathSettings",
    "PrivacySettings",
    "ProcessorSettings",
    "RegistrySettings",
    "RetentionManagement",
    "RetentionSettings",
    "Settings",
    "SourceSettings",
    "SpoolSettings",
    "duration_seconds",
    "load_settings",
]

ENV_PREFIX = "CITY_INGEST_"
_SECRET_KEYS = {
    "password",
    "token",
    "pseudonym_key",
    "tts_password",
    "chirpstack_password",
    "kpn_shared_secret",
}


class _Section(BaseModel):
    # a docstring under a field is its description: docs/configuration.md is made from them
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class MqttClient(StrEnum):
    NATIVE = "native"
    PAHO = "paho"


class MqttSettings(_Section):
    client: MqttClient = MqttClient.NATIVE
    """`native`: city-ingest's own asyncio MQTT 5 receiver (6 × paho's rate, docs/decisions.md);
    `paho`: paho-mqtt driven from asyncio, the reference implementation."""
    host: str = "localhost"
    """Broker host name or address."""
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    """Broker port: usually 1883 for plain MQTT, 8883 for MQTT over TLS."""
    client_id: Annotated[str, Field(min_length=1, max_length=128)] = "city-ingest"
    """Fixed client id: the broker keeps the persistent session under it."""
    username: str | None = None
    """User name at the broker; none for an anonymous broker."""
    password: SecretStr | None = None
    """Password of `username` (a secret: `password_file` or the environment)."""
    tls: bool = False
    """Connect with TLS and verify the broker's certificate."""
    ca_file: Path | None = None
    """CA certificates that signed the broker's certificate; default: the system's."""
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 60
    """MQTT keep alive in seconds: the client pings the broker when idle this long."""
    qos: Literal[1] = 1
    """Subscription QoS; only 1: an uplink is acknowledged once it is durable."""
    clean_start: Literal[False] = False
    """Only false: the persistent session keeps what was not acknowledged."""
    session_expiry: Annotated[int, Field(ge=60)] = 7 * 24 * 3600
    """Seconds the broker keeps the session (and queues uplinks) while we are away."""
    receive_maximum: Annotated[int, Field(ge=1, le=65535)] = 1000
    """MQTT 5 in-flight window: unacknowledged messages the broker may send."""
    max_message_bytes: Annotated[int, Field(ge=256)] = 64 * 1024
    """Messages larger than this are dead-lettered without being decoded."""
    reconnect_min_delay: Annotated[float, Field(gt=0)] = 0.5
    """Seconds before the first reconnect attempt; doubled after each failure."""
    reconnect_max_delay: Annotated[float, Field(gt=0)] = 30.0
    """Upper bound of the reconnect delay, in seconds."""
    stall_after: Annotated[float, Field(gt=0)] = 900.0
    """Seconds connected without a message before a stall is logged, on /metrics and /readyz."""


class SourceSettings(_Section):
    network: Network
    """Uplink format: `tts` (The Things Stack v3), `chirpstack` (v4), `kpn` (SenML)."""
    topic: Annotated[str, Field(min_length=1)]
    """MQTT topic filter the integration publishes to (`+` and `#` wildcards)."""
    upstream_qos: Literal[0, 1] = 1
    """QoS the network server publishes with: 0 loses uplinks while anything is disconnected
    (TTS's own MQTT server; ChirpStack's default), so `check-config` warns (docs/networks/)."""

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


class RetentionManagement(StrEnum):
    APPLY = "apply"
    OFF = "off"


_DURATION_UNITS = {"h": 3600, "d": 86_400, "w": 604_800}


def duration_seconds(text: str) -> int:
    """``90d`` → seconds; units h, d, w (InfluxDB's own duration literals); ``inf`` → 0, as
    InfluxDB writes "forever"."""
    if text == "inf":
        return 0
    number, unit = text[:-1], text[-1:]
    if not number.isdigit() or unit not in _DURATION_UNITS or int(number) == 0:
        msg = f"expected a duration such as '90d', '12w' or '48h' (or 'inf'), got '{text}'"
        raise ValueError(msg)
    return int(number) * _DURATION_UNITS[unit]


def _duration(text: str) -> str:
    duration_seconds(text)
    return text


def _forever_last(text: str) -> float:
    return duration_seconds(text) or math.inf


Duration = Annotated[str, AfterValidator(_duration)]


class RetentionSettings(_Section):
    """Raw points expire sooner than aggregates (docs/privacy.md): two retention policies
    (1.x) or two buckets (2.x)."""

    manage: RetentionManagement = RetentionManagement.APPLY
    """`apply`: at start the service creates the database, policies, buckets and InfluxQL
    mappings below if missing and sets their durations (needs an InfluxDB admin on 1.x, a token
    that may write buckets on 2.x); `off`: the operator made them (docs/privacy.md)."""
    raw: Duration = "90d"
    """How long raw points (`air`, `noise`, `waste`, `link`) are kept: h, d or w, or `inf`.
    InfluxDB drops (and the service dead-letters) points older than this when written."""
    aggregates: Duration = "730d"
    """How long aggregates and alerts are kept; not shorter than `raw`."""
    raw_policy: str = "autogen"
    """Retention policy of the raw points: a 1.x policy, on 2.x the InfluxQL mapping of
    `influxdb.bucket`; queries name it (`FROM "autogen"."air"`) or use the database default."""
    aggregate_policy: str = "aggregates"
    """Retention policy of aggregates: queries read `FROM "aggregates"."air_1h"` on 1.x and 2.x."""
    aggregate_bucket: str = "city_aggregates"
    """InfluxDB 2.x bucket of aggregates and alerts (mapped to `aggregate_policy` for InfluxQL)."""

    @model_validator(mode="after")
    def _raw_not_longer(self) -> RetentionSettings:
        if _forever_last(self.raw) > _forever_last(self.aggregates):
            msg = (
                f"raw = '{self.raw}' is longer than aggregates = '{self.aggregates}': aggregates "
                "summarise raw points and must outlive them; shorten raw or lengthen aggregates"
            )
            raise ValueError(msg)
        return self


class InfluxSettings(_Section):
    url: str = "http://localhost:8086"
    """Base URL of InfluxDB, with its scheme (http or https)."""
    api: InfluxApi = InfluxApi.AUTO
    """`auto` asks /ping for the version; `v1` writes to /write, `v2` to /api/v2/write."""
    database: str = "city"
    """InfluxDB 1.x database (v1 API)."""
    bucket: str = "city"
    """InfluxDB 2.x bucket (v2 API)."""
    org: str | None = None
    """InfluxDB 2.x organisation (v2 API)."""
    token: SecretStr | None = Field(default=None, validate_default=True)
    """InfluxDB 2.x API token (a secret: `token_file` or the environment); v2 needs it."""
    username: str | None = None
    """InfluxDB 1.x user, when its authentication is enabled."""
    password: SecretStr | None = None
    """Password of `username` (a secret: `password_file` or the environment)."""
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000
    """Points per write request."""
    flush_interval: Annotated[float, Field(gt=0, le=60)] = 0.5
    """Seconds a partial batch may wait before it is written."""
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds one write request may take before it counts as failed."""
    gzip: bool = True
    """Compress write requests with gzip."""
    retry_min_delay: Annotated[float, Field(gt=0)] = 0.2
    """Seconds before a failed write is retried; doubled after each failure."""
    retry_max_delay: Annotated[float, Field(gt=0)] = 10.0
    """Upper bound of the write retry delay, in seconds."""
    drain_timeout: Annotated[float, Field(gt=0)] = 8.0
    """Seconds a stop waits for pending writes; the rest is redelivered (Docker waits 10 s)."""
    retention: RetentionSettings = RetentionSettings()
    """Where raw points and aggregates go and how long they are kept."""

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header: the token (2.x, also on its 1.x-compatible API), else
        HTTP Basic with username and password (RFC 7617, which 1.x accepts), else none."""
        if self.token is not None:
            return {"Authorization": f"Token {self.token.get_secret_value()}"}
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password.get_secret_value()}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
        return {}

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
    """The file, relative to the config file's folder unless absolute."""


class RegistrySettings(PathSettings):
    max_devices: Annotated[int, Field(ge=1)] = 1_000_000
    """Rows the registry may hold; a larger file is refused at start (a defence against a
    runaway or hostile file: each device costs memory in every stage)."""


class DedupSettings(_Section):
    window: Annotated[float, Field(gt=0)] = 600.0
    """Seconds an uplink key is remembered (contract §7 default: 10 minutes)."""
    max_entries: Annotated[int, Field(ge=1000)] = 2_000_000
    """Keys remembered at most; past that the oldest are forgotten first."""


class SpoolSettings(_Section):
    dir: Path = Path("var/spool")
    """Folder of the spool segments."""
    max_bytes: Annotated[int, Field(ge=1 << 20)] = 1 << 30
    """Size limit; a full spool stops acknowledging instead of dropping anything."""
    after: Annotated[float, Field(ge=0)] = 2.0
    """Seconds of failing writes before batches go to the spool."""


class DeadLetterSettings(_Section):
    dir: Path = Path("var/dead-letter")
    """Folder of the dead-letter store (JSON lines)."""
    max_bytes: Annotated[int, Field(ge=1 << 16)] = 256 << 20
    """Size limit; past it dead letters are dropped and counted on /metrics."""


class HttpSettings(_Section):
    listen: str = "127.0.0.1:9108"
    """`host:port` of the status page, /metrics, /healthz and /readyz; port 0 picks a free one."""
    silent_after: Annotated[float, Field(gt=0)] = 3 * 3600.0
    """Seconds without an uplink after which the status page shows a device as silent."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        host, sep, port = listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            msg = f"expected 'host:port', got '{listen}'; e.g. '127.0.0.1:9108'"
            raise ValueError(msg)
        return listen


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Least severe level logged."""
    format: LogFormat = LogFormat.TEXT
    """`text` for a terminal, `json` (one object per line) for a log collector."""


class ProcessorSettings(_Section):
    """``[processors]``: one sub-table per kind, mirroring the processors' own config classes
    (``processors.AirConfig``, ``NoiseConfig``, ``WasteConfig``), and where state is kept."""

    state_dir: Path = Path("var/state")
    """Folder where open windows are saved on stop and restored on start."""
    air: AirConfig = AirConfig()
    """The air processor: `air_1h` aggregates and `air_exceedance` alerts."""
    noise: NoiseConfig = NoiseConfig()
    """The noise processor: `noise_1h`, `noise_1d` and `noise_exceedance` alerts."""
    waste: WasteConfig = WasteConfig()
    """The bin processor: `waste_state` and the `bin_full` and `fire` alerts."""
    quality: QualityConfig = Field(default_factory=QualityConfig)
    """QARTOD tests per kind and field (IOOS QARTOD; docs/quality.md). A field given under
    `[processors.quality.fields.<kind>.<field>]` replaces that field's defaults only."""
    health: HealthConfig = HealthConfig()
    """`device_health` hours and the `silent`, `battery_low` and `sensor_fault` alerts."""

    @model_validator(mode="before")
    @classmethod
    def _merge_quality_fields(cls, raw: object) -> object:
        """Fields named in the config replace those fields' defaults; the rest stay."""
        quality = raw.get("quality") if isinstance(raw, dict) else None
        fields = quality.get("fields") if isinstance(quality, dict) else None
        if (
            not isinstance(raw, dict)
            or not isinstance(quality, dict)
            or not isinstance(fields, dict)
        ):
            return raw
        merged: dict[str, dict[str, Any]] = {
            kind.value: {name: asdict(spec) for name, spec in specs.items()}
            for kind, specs in DEFAULT_QC_FIELDS.items()
        }
        for kind, specs in fields.items():
            if isinstance(specs, dict):
                merged.setdefault(str(kind), {}).update(specs)
        return {**raw, "quality": {**quality, "fields": merged}}


class NatsSettings(_Section):
    """``[nats]``: present, city-ingest reads uplinks from a NATS JetStream cluster (scale-out,
    docs/scaling.md) instead of subscribing at the MQTT broker of ``[mqtt]``."""

    servers: Annotated[list[str], Field(min_length=1)] = ["nats://localhost:4222"]
    """NATS client URLs of the cluster's nodes; the client fails over between them."""
    stream: str = "$MQTT_msgs"
    """The stream holding the MQTT listener's QoS 1 publishes (stored before the PUBACK)."""
    partitions: Annotated[int, Field(ge=1, le=1024)] = 64
    """Partition count of the server's subject mapping (config/nats/partitions.conf); fixed."""
    consumer_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "city_ingest_p"
    """Partition `p` is read through the durable consumer `<consumer_prefix><p>`."""
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "city-ingest"
    """Priority group of the consumers: one pinned replica per partition, the others wait."""
    replica: Annotated[int, Field(ge=0)] = 0
    """This replica (0 … replicas − 1); it pulls the partitions `p mod replicas == replica`."""
    replicas: Annotated[int, Field(ge=1)] = 1
    """How many replicas share the partitions."""
    takeover_after: Annotated[float, Field(gt=0)] = 15.0
    """Seconds another replica's partition must hold messages without progress before this
    replica pulls it too (and takes it over once the server unpins the silent owner)."""
    priority_timeout: Annotated[float, Field(gt=0)] = 10.0
    """Seconds without a pull after which the server pins a partition to a standby."""
    ack_wait: Annotated[float, Field(gt=0)] = 30.0
    """Seconds before an unacknowledged message is redelivered (extended while a write goes on)."""
    max_ack_pending: Annotated[int, Field(ge=1)] = 2000
    """Unacknowledged messages per partition consumer: the memory bound of a replica."""
    max_deliver: Annotated[int, Field(ge=2)] = 5
    """Deliveries after which a message is a poison message: dead-lettered and terminated."""
    connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    """Seconds to reach a node at start before giving up."""

    @model_validator(mode="after")
    def _replica_in_range(self) -> NatsSettings:
        if self.replica >= self.replicas:
            msg = f"replica {self.replica} is not below replicas = {self.replicas}; number "
            raise ValueError(msg + "replicas 0 … replicas − 1")
        if self.takeover_after <= self.priority_timeout:
            msg = f"takeover_after ({self.takeover_after}) must exceed priority_timeout "
            msg += f"({self.priority_timeout}); raise it, or pins a crashed replica left "
            raise ValueError(msg + "make a restart hand partitions out unevenly")
        return self


class PrivacySettings(_Section):
    pseudonym_key: SecretStr | None = None
    """HMAC key of citizen devices' pseudonyms (a secret); needed if any exist."""
    location_grid_m: Annotated[float, Field(gt=0)] = 250.0
    """Metres of the grid that citizen devices' positions are coarsened to."""


class Settings(_Section):
    """The whole configuration; sections mirror ``config/city-ingest.toml``."""

    mqtt: MqttSettings = MqttSettings()
    """The MQTT broker city-ingest subscribes to."""
    sources: Annotated[list[SourceSettings], Field(min_length=1)]
    """One table per network server integration: its uplink format and topic filter."""
    influxdb: InfluxSettings = InfluxSettings()
    """The InfluxDB (1.x or 2.x) that readings and aggregates are written to."""
    registry: RegistrySettings
    """The device registry: one CSV row per device (contract §3)."""
    decoders: PathSettings
    """The payload decoder layouts (docs/payloads.md)."""
    dedup: DedupSettings = DedupSettings()
    """Duplicate detection (contract §7)."""
    spool: SpoolSettings = SpoolSettings()
    """The disk spool that keeps batches while InfluxDB cannot take them."""
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    """The store of uplinks that could not be written, each with its reason."""
    logging: LoggingSettings = LoggingSettings()
    """How the service logs (never a secret)."""
    http: HttpSettings = HttpSettings()
    """The HTTP endpoints: /metrics (Prometheus), /healthz and /readyz."""
    processors: ProcessorSettings = Field(default_factory=ProcessorSettings)
    """Aggregation windows and alert thresholds, one sub-table per kind."""
    privacy: PrivacySettings = PrivacySettings()
    """Pseudonyms and coarse locations for citizen-hosted devices."""
    webhooks: WebhookSettings = WebhookSettings()
    """HTTP endpoints the network servers push uplinks to (docs/networks/)."""
    backfill: BackfillSettings = BackfillSettings()
    """Uplinks missed during a gap, fetched from The Things Stack's Storage Integration."""
    nats: NatsSettings | None = None
    """Present: read uplinks from NATS JetStream partitions (docs/scaling.md), not `[mqtt]`."""


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
