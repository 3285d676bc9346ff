"""The sections of ``config/city-ingest.toml`` and the whole ``Settings`` model."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from ingest.logs import LogFormat
from ingest.model import Network
from ingest.settings.base import Section
from ingest.settings.influx import InfluxSettings
from ingest.settings.integrations import BackfillSettings, NatsSettings, WebhookSettings
from processors import AirConfig, NoiseConfig, WasteConfig
from processors.health import HealthConfig
from processors.qctests import DEFAULT_FIELDS as DEFAULT_QC_FIELDS
from processors.qctests import QualityConfig

__all__ = [
    "DeadLetterSettings",
    "DedupSettings",
    "HttpSettings",
    "LoggingSettings",
    "MqttClient",
    "MqttSettings",
    "PathSettings",
    "PrivacySettings",
    "ProcessorSettings",
    "RegistrySettings",
    "Settings",
    "SourceSettings",
    "SpoolSettings",
]


class MqttClient(StrEnum):
    NATIVE = "native"
    PAHO = "paho"


class MqttSettings(Section):
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


class SourceSettings(Section):
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


class PathSettings(Section):
    path: Path
    """The file, relative to the config file's folder unless absolute."""


class RegistrySettings(PathSettings):
    max_devices: Annotated[int, Field(ge=1)] = 1_000_000
    """Rows the registry may hold; a larger file is refused at start (a defence against a
    runaway or hostile file: each device costs memory in every stage)."""


class DedupSettings(Section):
    window: Annotated[float, Field(gt=0)] = 600.0
    """Seconds an uplink key is remembered (contract §7 default: 10 minutes)."""
    max_entries: Annotated[int, Field(ge=1000)] = 2_000_000
    """Keys remembered at most; past that the oldest are forgotten first."""


class SpoolSettings(Section):
    dir: Path = Path("var/spool")
    """Folder of the spool segments."""
    max_bytes: Annotated[int, Field(ge=1 << 20)] = 1 << 30
    """Size limit; a full spool stops acknowledging instead of dropping anything."""
    after: Annotated[float, Field(ge=0)] = 2.0
    """Seconds of failing writes before batches go to the spool."""


class DeadLetterSettings(Section):
    dir: Path = Path("var/dead-letter")
    """Folder of the dead-letter store (JSON lines)."""
    max_bytes: Annotated[int, Field(ge=1 << 16)] = 256 << 20
    """Size limit; past it dead letters are dropped and counted on /metrics."""


class HttpSettings(Section):
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


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Least severe level logged."""
    format: LogFormat = LogFormat.TEXT
    """`text` for a terminal, `json` (one object per line) for a log collector."""


class ProcessorSettings(Section):
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


class PrivacySettings(Section):
    pseudonym_key: SecretStr | None = None
    """HMAC key of citizen devices' pseudonyms (a secret); needed if any exist."""
    location_grid_m: Annotated[float, Field(gt=0)] = 250.0
    """Metres of the grid that citizen devices' positions are coarsened to."""


class Settings(Section):
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
