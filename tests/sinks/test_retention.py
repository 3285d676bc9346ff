"""Retention set up by the service: raw points kept shorter than aggregates (docs/privacy.md).

InfluxDB 1.6 for retention policies (real server); the v2 stub for buckets and DBRP mappings,
which no real server here speaks (tests/influx_v2_buckets.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import SecretStr

from ingest.errors import ConfigError
from ingest.settings import InfluxApi, InfluxSettings, RetentionSettings, load_settings
from ingest.sinks.influx import InfluxSink, WriteResult
from ingest.sinks.retention import influxql_source
from simulators.servers import InfluxV1, VictoriaMetrics
from tests.influx_v2_buckets import ORG_ID
from tests.influx_v2_stub import InfluxV2Stub

NOW = time.time_ns() // 10**9 * 10**9
RAW = f"air,device=a,district=centrum pm25=12.5 {NOW}"
AGGREGATE = f"air_1h,device=a,district=centrum pm25_mean=12.5 {NOW - NOW % (3600 * 10**9)}"
DAY = 86_400


def settings(url: str, **retention: Any) -> InfluxSettings:
    return InfluxSettings(
        url=url,
        retry_min_delay=0.01,
        retry_max_delay=0.05,
        timeout=2.0,
        retention=RetentionSettings(**retention),
    )


def write(config: InfluxSettings, lines: list[str]) -> WriteResult:
    async def go() -> WriteResult:
        async with InfluxSink(config) as sink:
            return await sink.write(lines)

    return asyncio.run(go())


def refusal(config: InfluxSettings) -> ConfigError:
    """The ``ConfigError`` with which setting up retention stops."""

    async def prepare() -> None:
        async with InfluxSink(config) as sink:
            await sink.prepare()

    with pytest.raises(ConfigError) as refused:
        asyncio.run(prepare())
    return refused.value


def policies(influxdb: InfluxV1) -> dict[str, tuple[str, bool]]:
    rows = influxdb.query('SHOW RETENTION POLICIES ON "city"')
    return {row["name"]: (row["duration"], row["default"]) for row in rows}


def test_v1_raw_and_aggregates_land_in_their_own_policies(influxdb: InfluxV1) -> None:
    config = settings(influxdb.url, raw="30d", aggregates="inf")
    assert write(config, [RAW, AGGREGATE]).rejected == []
    assert policies(influxdb) == {"autogen": ("720h0m0s", True), "aggregates": ("0s", False)}
    assert len(influxdb.query(f"SELECT * FROM {influxql_source('air', config)}")) == 1
    assert len(influxdb.query(f"SELECT * FROM {influxql_source('air_1h', config)}")) == 1
    assert influxdb.query('SELECT * FROM "autogen"."air_1h"') == []  # not in the raw policy
    assert len(influxdb.query("SELECT * FROM air")) == 1  # raw is the database default


def test_v1_a_changed_duration_is_applied_and_keeps_the_data(influxdb: InfluxV1) -> None:
    write(settings(influxdb.url, raw="30d", aggregates="365d"), [RAW, AGGREGATE])
    write(settings(influxdb.url, raw="60d", aggregates="730d"), [RAW])
    assert policies(influxdb) == {
        "autogen": ("1440h0m0s", True),
        "aggregates": ("17520h0m0s", False),
    }
    assert len(influxdb.query('SELECT * FROM "aggregates"."air_1h"')) == 1


def test_v1_a_raw_point_older_than_its_retention_comes_back_as_refused(influxdb: InfluxV1) -> None:
    old = f"air,device=a,district=centrum pm25=1 {NOW - 40 * DAY * 10**9}"
    result = write(settings(influxdb.url, raw="30d"), [old, RAW])
    assert [index for index, _ in result.rejected] == [0]  # dead-lettered by the pipeline
    assert "retention policy" in result.rejected[0][1]
    assert len(influxdb.query("SELECT * FROM air")) == 1


def test_v2_buckets_and_influxql_mappings_are_made_and_written(
    influx_v2_stub: InfluxV2Stub,
) -> None:
    config = settings(influx_v2_stub.url, raw="90d", aggregates="730d").model_copy(
        update={"token": SecretStr(influx_v2_stub.token), "org": "city"}
    )
    assert write(config, [RAW, AGGREGATE]).rejected == []
    write(config, [RAW])  # a second start finds everything in place
    buckets = influx_v2_stub.buckets
    assert buckets.expiry == {"city": 90 * DAY, "city_aggregates": 730 * DAY}
    mappings = {(m["database"], m["retention_policy"], m["default"]) for m in buckets.dbrps}
    assert mappings == {("city", "autogen", True), ("city", "aggregates", False)}
    assert {m["orgID"] for m in buckets.dbrps} == {ORG_ID}
    assert [(w.bucket, w.lines) for w in influx_v2_stub.writes] == [
        ("city", (RAW,)),
        ("city_aggregates", (AGGREGATE,)),
        ("city", (RAW,)),
    ]


def test_v2_a_wrong_token_stops_the_set_up_naming_the_key(influx_v2_stub: InfluxV2Stub) -> None:
    config = settings(influx_v2_stub.url).model_copy(
        update={"token": SecretStr("wrong"), "org": "city"}
    )
    assert refusal(config).key == "influxdb.token"
    assert influx_v2_stub.buckets.dbrps == []


def test_v2_an_unknown_organisation_stops_the_set_up_naming_the_key(
    influx_v2_stub: InfluxV2Stub,
) -> None:
    config = settings(influx_v2_stub.url).model_copy(
        update={"token": SecretStr(influx_v2_stub.token), "org": "gemeente"}
    )
    refused = refusal(config)
    assert (refused.key, refused.problem) == (
        "influxdb.org",
        "InfluxDB has no organisation 'gemeente'",
    )


def test_v2_a_token_that_cannot_read_the_organisation_names_manage(
    influx_v2_stub: InfluxV2Stub,
) -> None:
    influx_v2_stub.buckets.orgs_readable = False  # InfluxDB lists nothing to such a token
    config = settings(influx_v2_stub.url).model_copy(
        update={"token": SecretStr(influx_v2_stub.token), "org": "city"}
    )
    refused = refusal(config)
    assert refused.key == "influxdb.retention.manage"
    assert "may not read the organisation 'city'" in refused.problem


def test_a_server_without_the_management_api_stops_the_set_up_instead_of_retrying(
    victoria: VictoriaMetrics,
) -> None:
    """VictoriaMetrics takes /api/v2/write but answers 400 to /api/v2/orgs: a permanent
    refusal, named at start, where it used to be retried as an outage for ever."""
    config = settings(victoria.url).model_copy(
        update={"api": InfluxApi.V2, "token": SecretStr("t"), "org": "city"}
    )
    refused = refusal(config)
    assert refused.key == "influxdb.retention.manage"
    assert "GET /api/v2/orgs answered HTTP 400" in refused.problem
    assert 'manage = "off"' in refused.fix


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ('raw = "800d"', "longer than aggregates"),
        ('raw = "90 days"', "expected a duration such as '90d'"),
        ('aggregates = "0d"', "expected a duration"),
    ],
)
def test_retention_settings_are_checked_at_start(
    tmp_path: Any, retention: str, message: str
) -> None:
    config = tmp_path / "city-ingest.toml"
    config.write_text(
        '[registry]\npath = "devices.csv"\n[decoders]\npath = "decoders.toml"\n'
        '[[sources]]\nnetwork = "tts"\ntopic = "v3/+/devices/+/up"\n'
        f"[influxdb.retention]\n{retention}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as bad:
        load_settings(config)
    assert "influxdb.retention" in bad.value.key
    assert message in str(bad.value)
