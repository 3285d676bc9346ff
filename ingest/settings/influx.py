"""`[influxdb]` and `[influxdb.retention]`: where points are written and how long they are kept."""

from __future__ import annotations

import base64
import math
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ingest.settings.base import Section

__all__ = [
    "InfluxApi",
    "InfluxSettings",
    "RetentionManagement",
    "RetentionSettings",
    "duration_seconds",
]


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


class RetentionSettings(Section):
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


class InfluxSettings(Section):
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
