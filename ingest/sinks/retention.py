"""Retention at the database: raw points expire sooner than aggregates (docs/privacy.md).

Raw measurements (``air``, ``noise``, ``waste``, ``link``) go to one retention policy (1.x) or
bucket (2.x), aggregates and alerts to another, each with its own duration from
``[influxdb.retention]``. InfluxQL reads both the same way on 1.x and 2.x:
``FROM "aggregates"."air_1h"`` (2.x maps database + policy to a bucket, its "DBRP mapping").

With ``manage = "apply"`` the service makes them at start: on 1.x ``CREATE DATABASE`` and
``CREATE``/``ALTER RETENTION POLICY`` (an admin's statements); on 2.x the aggregate bucket, both
buckets' retention rules and the two DBRP mappings, through the v2 REST API. Existing ones keep
their data; only their duration changes. A refusal is a ``ConfigError`` naming the key and the
fix: HTTP 401 the credentials, HTTP 403 ``influxdb.retention.manage``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import aiohttp

from ingest.errors import ConfigError, SinkUnavailable
from ingest.settings import InfluxSettings, duration_seconds

__all__ = ["AGGREGATE_MEASUREMENTS", "Target", "apply_retention", "influxql_source", "target_of"]

log = logging.getLogger(__name__)

# contract §4: the aggregate measurements (and alerts), kept longer than raw readings
AGGREGATE_MEASUREMENTS: Final = (
    "air_1h",
    "noise_1h",
    "noise_1d",
    "waste_state",
    "device_health",
    "alert",
)
_AGGREGATE_PREFIXES: Final = tuple(f"{name}," for name in AGGREGATE_MEASUREMENTS)


class Target(Enum):
    RAW = "raw"
    AGGREGATES = "aggregates"


def target_of(line: str) -> Target:
    """Where a line-protocol line goes, by its measurement (every point of ours has tags)."""
    return Target.AGGREGATES if line.startswith(_AGGREGATE_PREFIXES) else Target.RAW


def influxql_source(measurement: str, settings: InfluxSettings) -> str:
    """``"policy"."measurement"`` for an InfluxQL ``FROM``, on 1.x and 2.x alike."""
    r = settings.retention
    policy = r.aggregate_policy if measurement in AGGREGATE_MEASUREMENTS else r.raw_policy
    return f'"{policy}"."{measurement}"'


_TRANSIENT = frozenset({408, 429})  # timeout, too many requests: worth another try


@dataclass(frozen=True, slots=True)
class _Http:
    """One InfluxDB's REST calls with translated errors."""

    session: aiohttp.ClientSession
    settings: InfluxSettings
    credentials: str  # the settings key of the credentials, for a 401

    async def call(
        self,
        method: str,
        path: str,
        *,
        on_404: ConfigError | None = None,
        **kwargs: Any,  # noqa: ANN401 - aiohttp's request options
    ) -> Any:  # noqa: ANN401 - JSON
        """The JSON answer; ``on_404`` is raised for HTTP 404 where that has its own meaning."""
        url = f"{self.settings.url}{path}"
        try:
            async with self.session.request(method, url, **kwargs) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc
        if status == 401:
            raise ConfigError(
                self.credentials,
                f"InfluxDB did not accept the credentials ({method} {path}: HTTP 401)",
                "check the secret's file or environment variable",
            )
        if status == 403:
            raise ConfigError(
                "influxdb.retention.manage",
                f"InfluxDB refused to set up retention ({method} {path}: HTTP 403)",
                "give the service an InfluxDB admin (1.x) or a token that may write buckets and "
                "DBRP mappings (2.x), or create them once yourself (docs/privacy.md) and set "
                'manage = "off"',
            )
        if status == 404 and on_404 is not None:
            raise on_404
        if 400 <= status < 500 and status not in _TRANSIENT:  # permanent: retrying cannot help
            raise ConfigError(
                "influxdb.retention.manage",
                f"{method} {path} answered HTTP {status}: {text.strip()[:200]}",
                "point influxdb.url at InfluxDB itself (VictoriaMetrics and proxies do not offer "
                'its management API), or set retention up on the server and set manage = "off"',
            )
        if status >= 300:
            raise SinkUnavailable(f"{url} answered HTTP {status}: {text.strip()[:300]}")
        return None if not text else json.loads(text)


async def apply_retention(
    session: aiohttp.ClientSession, settings: InfluxSettings, *, v2: bool
) -> None:
    """Create or update the policies (1.x) or buckets and mappings (2.x); see the module doc."""
    http = _Http(session, settings, "influxdb.token" if v2 else "influxdb.username/password")
    if v2:
        await _apply_v2(http, settings)
    else:
        await _apply_v1(http, settings)
    r = settings.retention
    log.info("retention: raw points kept %s, aggregates %s", r.raw, r.aggregates)


# -- InfluxDB 1.x -------------------------------------------------------------------------------
async def _apply_v1(http: _Http, s: InfluxSettings) -> None:
    async def influxql(statement: str) -> Any:  # noqa: ANN401 - JSON
        return await http.call("POST", "/query", data={"q": statement}, headers=s.auth_headers())

    await influxql(f'CREATE DATABASE "{s.database}"')
    shown = await influxql(f'SHOW RETENTION POLICIES ON "{s.database}"')
    existing = {row[0]: row[1] for row in _series_values(shown)}
    r = s.retention
    for policy, duration, default in (
        (r.raw_policy, r.raw, True),
        (r.aggregate_policy, r.aggregates, False),
    ):
        literal = "INF" if duration == "inf" else duration  # InfluxQL: DURATION 90d / INF
        if policy not in existing:
            suffix = " DEFAULT" if default else ""
            await influxql(
                f'CREATE RETENTION POLICY "{policy}" ON "{s.database}" DURATION {literal} '
                f"REPLICATION 1{suffix}"
            )
        elif _go_duration_seconds(existing[policy]) != duration_seconds(duration):
            await influxql(
                f'ALTER RETENTION POLICY "{policy}" ON "{s.database}" DURATION {literal}'
            )


def _series_values(result: Any) -> list[list[Any]]:  # noqa: ANN401 - JSON
    series = result["results"][0].get("series", [])
    return [] if not series else list(series[0].get("values", []))


def _go_duration_seconds(text: str) -> int:
    """InfluxDB 1.x shows durations as Go does (``2160h0m0s``; ``0s`` is infinite)."""
    seconds, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        else:
            seconds += int(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return seconds


# -- InfluxDB 2.x -------------------------------------------------------------------------------
async def _apply_v2(http: _Http, s: InfluxSettings) -> None:
    if not s.org:
        raise ConfigError(
            "influxdb.org",
            'retention.manage = "apply" on InfluxDB 2.x needs the organisation',
            'set influxdb.org (the compose deployment uses "city"), or manage = "off"',
        )
    headers = s.auth_headers()
    org_id = await _org_id(http, headers, s.org)
    r = s.retention
    for bucket, duration, policy, default in (
        (s.bucket, r.raw, r.raw_policy, True),
        (r.aggregate_bucket, r.aggregates, r.aggregate_policy, False),
    ):
        bucket_id = await _bucket(http, headers, org_id, bucket, duration_seconds(duration))
        mapping = {"orgID": org_id, "db": s.database, "rp": policy}
        found = await http.call("GET", "/api/v2/dbrps", params=mapping, headers=headers)
        if not found.get("content"):
            body = {
                "orgID": org_id,
                "bucketID": bucket_id,
                "database": s.database,
                "retention_policy": policy,
                "default": default,
            }
            await http.call("POST", "/api/v2/dbrps", json=body, headers=headers)


async def _org_id(http: _Http, headers: dict[str, str], org: str) -> str:
    """The organisation's id. InfluxDB 2.x answers 404 for an unknown name, and an empty list
    to a token that may not read organisations (a write-only token)."""
    unknown = ConfigError(
        "influxdb.org", f"InfluxDB has no organisation {org!r}", "set the organisation's name"
    )
    params = {"org": org}
    found = await http.call("GET", "/api/v2/orgs", on_404=unknown, params=params, headers=headers)
    if not found.get("orgs"):
        raise ConfigError(
            "influxdb.retention.manage",
            f"the token may not read the organisation {org!r}",
            "give the token read access to the organisation and write access to buckets and "
            'DBRP mappings, or create them once yourself (docs/privacy.md) and set manage = "off"',
        )
    return str(found["orgs"][0]["id"])


async def _bucket(
    http: _Http, headers: dict[str, str], org_id: str, name: str, seconds: int
) -> str:
    """The bucket's id, created or with its expiry set to ``seconds``."""
    rules = [{"type": "expire", "everySeconds": seconds}] if seconds else []  # 0: forever
    params = {"orgID": org_id, "name": name}
    found = (await http.call("GET", "/api/v2/buckets", params=params, headers=headers))["buckets"]
    if not found:
        body = {"orgID": org_id, "name": name, "retentionRules": rules}
        created = await http.call("POST", "/api/v2/buckets", json=body, headers=headers)
        return str(created["id"])
    bucket = found[0]
    kept = [rule.get("everySeconds") for rule in bucket.get("retentionRules", [])]
    if kept != [rule["everySeconds"] for rule in rules]:
        path = f"/api/v2/buckets/{bucket['id']}"
        await http.call("PATCH", path, json={"retentionRules": rules}, headers=headers)
    return str(bucket["id"])
