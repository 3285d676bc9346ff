"""Settings of the network-server integrations beyond the MQTT subscription.

``[webhooks]``: the HTTP listener that The Things Stack webhooks, the KPN Things HTTPS
destination and the ChirpStack HTTP integration post uplinks to. ``[backfill]``: the Things
Stack Storage Integration, read after a gap. Both sections are off until configured; their models
live here to keep ``ingest/settings.py`` small, and ``Settings`` includes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ingest.model import Network

__all__ = ["BackfillSettings", "WebhookSettings", "credential_key"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def credential_key(network: Network) -> str:
    """The ``[webhooks]`` key holding the secret that ``network``'s requests are checked with."""
    return "kpn_shared_secret" if network is Network.KPN else f"{network.value}_password"


class WebhookSettings(_Section):
    listen: str | None = None
    """`host:port` of the webhook listener (its own port, not the status page's); unset: off."""
    networks: list[Network] = []
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


class BackfillSettings(_Section):
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
