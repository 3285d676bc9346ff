"""Settings of the network-server integrations beyond the MQTT subscription.

``[webhooks]``: the HTTP listener that The Things Stack webhooks, the KPN Things HTTPS
destination and the ChirpStack HTTP integration post uplinks to. ``[backfill]``: the Things
Stack Storage Integration, read after a gap. ``[nats]``: the JetStream partitions that replace
the MQTT subscription when several replicas share the work (docs/scaling.md). All three are off
until configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator

from ingest.model import Network
from ingest.settings.base import Section

__all__ = ["BackfillSettings", "NatsSettings", "WebhookSettings", "credential_key"]


def credential_key(network: Network) -> str:
    """The ``[webhooks]`` key holding the secret that ``network``'s requests are checked with."""
    return "kpn_shared_secret" if network is Network.KPN else f"{network.value}_password"


class WebhookSettings(Section):
    listen: str | None = None
    """`host:port` of the webhook listener (its own port, not the status page's); unset: off."""
    networks: list[Network] = Field(default=[])  # pydantic copies it per instance
    """Networks whose endpoint is open: `tts` (POST /tts/up), `chirpstack` (POST /chirpstack),
    `kpn` (POST /kpn). Each needs its credential below."""
    tts_username: str = "tts"
    """User name The Things Stack webhook sends with HTTP basic authentication."""
    tts_password: SecretStr | None = None
    """Its password (a secret: `tts_password_file` or the environment)."""
    chirpstack_username: str = "chirpstack"
    """User name of the `Authorization: Basic` header set in ChirpStack's HTTP integration."""
    chirpstack_password: SecretStr | None = None
    """Its password (a secret: `chirpstack_password_file` or the environment)."""
    kpn_shared_secret: SecretStr | None = None
    """The KPN Things destination's shared secret: `Things-Message-Token` = SHA-256 of body + it."""
    max_body_bytes: Annotated[int, Field(ge=256, le=16 << 20)] = 64 * 1024
    """Larger request bodies are refused with 413."""
    max_pending: Annotated[int, Field(ge=1)] = 2000
    """Uplinks received and not yet durable at most; past that requests get 503 with Retry-After."""
    max_wait: Annotated[float, Field(gt=0)] = 8.0
    """Seconds a request waits for its readings to be durable before 503 (below TTS's 10 s
    request timeout); the network server's retry is deduplicated."""
    retry_after: Annotated[int, Field(ge=1)] = 30
    """Seconds in the Retry-After header of a 503."""
    tls_cert: Path | None = None
    """PEM certificate chain to serve HTTPS with (with `tls_key`); unset: plain HTTP behind a
    TLS-terminating proxy."""
    tls_key: Path | None = None
    """PEM private key of `tls_cert`."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str | None) -> str | None:
        if listen is None:
            return None
        host, sep, port = listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            msg = f"expected 'host:port', got '{listen}'; e.g. '0.0.0.0:9110'"
            raise ValueError(msg)
        return listen

    @model_validator(mode="after")
    def _credentials(self) -> WebhookSettings:
        for network in self.networks:
            if getattr(self, credential_key(network)) is None:
                key = credential_key(network)
                msg = f"'{network.value}' is in networks but {key} is not set; set {key}_file"
                raise ValueError(msg)
        if (self.tls_cert is None) != (self.tls_key is None):
            msg = "tls_cert and tls_key go together; set both or neither"
            raise ValueError(msg)
        if self.networks and self.listen is None:
            msg = "networks are listed but listen is not set; set e.g. listen = '0.0.0.0:9110'"
            raise ValueError(msg)
        return self


class BackfillSettings(Section):
    url: str | None = None
    """Base URL of The Things Stack (e.g. `https://eu1.cloud.thethings.network`); unset: off."""
    application_id: str = ""
    """The TTS application whose Storage Integration is read."""
    token: SecretStr | None = None
    """TTS API key with the right to read application traffic (a secret: `token_file`)."""
    overlap: Annotated[float, Field(ge=0)] = 60.0
    """Seconds added before and after each gap; the overlap is deduplicated."""
    max_gap: Annotated[float, Field(gt=0)] = 24 * 3600.0
    """Gaps are fetched back at most this many seconds (TTS Cloud keeps 30 days)."""
    page_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    """Uplinks per request (`limit`)."""
    timeout: Annotated[float, Field(gt=0)] = 60.0
    """Seconds one page may take."""
    checkpoint_interval: Annotated[float, Field(gt=0)] = 10.0
    """Seconds between saves of the time up to which uplinks are known complete."""

    @model_validator(mode="after")
    def _complete(self) -> BackfillSettings:
        if self.url is None:
            return self
        if not self.url.startswith(("http://", "https://")):
            msg = f"expected an http(s) URL, got '{self.url}'; add the scheme"
            raise ValueError(msg)
        if not self.application_id or self.token is None:
            msg = "url is set but application_id or token is missing; set both (token_file)"
            raise ValueError(msg)
        return self


class NatsSettings(Section):
    """``[nats]``: present, city-ingest reads uplinks from a NATS JetStream cluster (scale-out,
    docs/scaling.md) instead of subscribing at the MQTT broker of ``[mqtt]``."""

    servers: list[str] = Field(default=["nats://localhost:4222"], min_length=1)
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
    """Seconds to reach a node and be accepted at start before giving up."""
    username: str | None = None
    """User of the servers' authorization block (config/nats/auth.conf: `city-ingest`)."""
    password: SecretStr | None = None
    """Its password (a secret: `password_file` or the environment)."""

    @model_validator(mode="after")
    def _credentials_together(self) -> NatsSettings:
        if (self.username is None) != (self.password is None):
            msg = "username and password go together: set both (the password as password_file "
            raise ValueError(msg + "or CITY_INGEST_NATS__PASSWORD_FILE), or neither")
        return self

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
