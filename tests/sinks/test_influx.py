"""The InfluxDB sink against InfluxDB 1.6 (v1), VictoriaMetrics (v2 write) and the v2 stub."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from pydantic import SecretStr

from ingest.settings import InfluxApi, InfluxSettings, RetentionManagement, RetentionSettings
from ingest.sinks.influx import InfluxSink, SinkState, WriteResult
from simulators.servers import InfluxV1, VictoriaMetrics, wait_until
from tests.influx_v2_stub import FailureMode, InfluxV2Stub

T0 = 1_741_940_100_000_000_000  # 2025-03-14T08:15:00Z


def settings(url: str, **overrides: Any) -> InfluxSettings:
    """Fast retries; retention left alone (tests/sinks/test_retention.py covers it), so the
    2025 timestamps below stay inside the default, infinite policy."""
    overrides.setdefault("retention", RetentionSettings(manage=RetentionManagement.OFF))
    return InfluxSettings(
        url=url, retry_min_delay=0.01, retry_max_delay=0.05, timeout=2.0, **overrides
    )


def write(config: InfluxSettings, lines: list[str]) -> tuple[WriteResult, InfluxApi | None]:
    async def go() -> tuple[WriteResult, InfluxApi | None]:
        async with InfluxSink(config) as sink:
            return await sink.write(lines), sink.api

    return asyncio.run(go())


def air(i: int, field: str = "pm25=12.5") -> str:
    return f"air,device=d{i % 3},district=centrum {field} {T0 + i}"


def test_v1_writes_every_line_and_detects_the_api(influxdb: InfluxV1) -> None:
    result, api = write(settings(influxdb.url), [air(i) for i in range(100)])
    assert api is InfluxApi.V1
    assert result.rejected == []
    assert len(influxdb.query("SELECT * FROM air GROUP BY *")) == 100


def test_v1_field_type_conflict_rejects_only_the_bad_point(influxdb: InfluxV1) -> None:
    lines = [air(i) for i in range(20)]
    lines[13] = air(13, 'pm25="high"')  # a string where the series has floats
    influxdb.write(air(0))  # the field type is float from now on
    result, _ = write(settings(influxdb.url, batch_size=8), lines)
    assert [index for index, _ in result.rejected] == [13]
    assert "conflict" in result.rejected[0][1]
    assert len(influxdb.query("SELECT * FROM air GROUP BY *")) == 19


def test_rewriting_a_point_overwrites_it(influxdb: InfluxV1) -> None:
    write(settings(influxdb.url), [air(1, "pm25=1.0")])
    write(settings(influxdb.url), [air(1, "pm25=2.0")])
    rows = influxdb.query("SELECT * FROM air GROUP BY *")
    assert [row["pm25"] for row in rows] == [2.0]


def test_v2_write_reaches_victoria_metrics(victoria: VictoriaMetrics) -> None:
    config = settings(victoria.url, api=InfluxApi.V2, token=SecretStr("unchecked"), org="city")
    result, api = write(config, [air(i) for i in range(50)])
    assert api is InfluxApi.V2
    assert result.rejected == []
    assert victoria.count_points('{__name__="air_pm25"}') == 50


def test_auto_detects_v2_from_ping_and_sends_token_org_bucket(
    influx_v2_stub: InfluxV2Stub,
) -> None:
    config = settings(influx_v2_stub.url, token=SecretStr("stub-token"), org="city")
    result, api = write(config, [air(i) for i in range(10)])
    assert api is InfluxApi.V2
    assert result.rejected == []
    assert influx_v2_stub.lines == [air(i) for i in range(10)]


def test_server_errors_are_retried_until_they_pass(influx_v2_stub: InfluxV2Stub) -> None:
    influx_v2_stub.set_failure(FailureMode.ERROR_500, times=2)
    config = settings(influx_v2_stub.url, token=SecretStr("stub-token"), org="city")
    result, _ = write(config, [air(1)])
    assert result.retries == 2
    assert influx_v2_stub.lines == [air(1)]


def run_until(
    check: Callable[[InfluxSink], bool], config: InfluxSettings, lines: list[str]
) -> InfluxSink:
    """Start a write that cannot succeed, wait until ``check(sink)``, then cancel it."""

    async def go() -> InfluxSink:
        async with InfluxSink(config) as sink:
            task = asyncio.create_task(sink.write(lines))
            await asyncio.to_thread(wait_until, lambda: check(sink), 10.0)
            task.cancel()
            return sink

    coroutine: Coroutine[Any, Any, InfluxSink] = go()
    return asyncio.run(coroutine)


@pytest.mark.parametrize(
    ("token", "bucket", "status"), [("wrong-token", "city", "401"), ("stub-token", "nope", "404")]
)
def test_credentials_and_buckets_are_config_problems_not_dead_letters(
    influx_v2_stub: InfluxV2Stub, token: str, bucket: str, status: str
) -> None:
    config = settings(influx_v2_stub.url, token=SecretStr(token), org="city", bucket=bucket)
    sink = run_until(
        lambda s: s.state is SinkState.REFUSED and influx_v2_stub.write_attempts >= 3,
        config,
        [air(1)],
    )
    assert status in sink.last_error
    assert "token" in sink.last_error
    assert "wrong-token" not in sink.last_error
    assert influx_v2_stub.lines == []
