"""InfluxDB write path: city-ingest's sink (aiohttp, line protocol built by us) vs influxdb-client.

Both write the same pre-built lines in 5,000-line requests with gzip to VictoriaMetrics'
``/api/v2/write`` (the only server here that speaks the v2 write API), in interleaved runs.
influxdb-client cannot write to Debian's InfluxDB 1.6 at all: it only speaks ``/api/v2/write``,
which InfluxDB 1.x has from 1.8 on; the sink's v1 path to InfluxDB 1.6 is measured alongside.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from pydantic import SecretStr

from benchmarks.table import print_table
from ingest.settings import InfluxApi, InfluxSettings, RetentionManagement, RetentionSettings
from ingest.sinks.influx import InfluxSink
from simulators.servers import InfluxV1, VictoriaMetrics

T0 = 1_741_940_100_000_000_000
BATCH = 5000


def _lines(count: int, run: int) -> list[str]:
    return [
        f"air,device=d{i % 1000},district=centrum pm25={i % 500 / 10},pm25_qc=1i,"
        f"pm10={i % 700 / 10},pm10_qc=1i,temperature=21.5,temperature_qc=1i "
        f"{T0 + run * 10**12 + i * 1000}"
        for i in range(count)
    ]


def _sink(settings: InfluxSettings, lines: list[str]) -> float:
    async def go() -> float:
        async with InfluxSink(settings) as sink:
            started = time.perf_counter()
            result = await sink.write(lines)
            assert not result.rejected  # noqa: S101 - a benchmark that wrote nothing is void
            return time.perf_counter() - started

    return asyncio.run(go())


def _client(url: str, lines: list[str]) -> float:
    token = "unchecked"  # noqa: S105 - VictoriaMetrics checks no token
    with InfluxDBClient(url=url, token=token, org="city", enable_gzip=True) as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        started = time.perf_counter()
        for start in range(0, len(lines), BATCH):
            api.write(bucket="city", record=lines[start : start + BATCH], write_precision="ns")
        return time.perf_counter() - started


def run(count: int = 200_000, repetitions: int = 3) -> None:
    rates: dict[str, list[float]] = {
        "sink v2 → VictoriaMetrics": [],
        "influxdb-client v2 → VictoriaMetrics": [],
        "sink v1 → InfluxDB 1.6": [],
    }
    # Writes only: VictoriaMetrics has no bucket or DBRP API, and the points' fixed dates are
    # older than the default 90 days InfluxDB would be told to keep.
    untouched = RetentionSettings(manage=RetentionManagement.OFF)
    with VictoriaMetrics() as victoria, InfluxV1() as influx:
        influx.create_database("city")
        v2 = InfluxSettings(
            url=victoria.url,
            api=InfluxApi.V2,
            token=SecretStr("unchecked"),
            org="city",
            batch_size=BATCH,
            retention=untouched,
        )
        v1 = InfluxSettings(url=influx.url, api=InfluxApi.V1, batch_size=BATCH, retention=untouched)
        for run_number in range(repetitions):
            lines = _lines(count, run_number)
            rates["sink v2 → VictoriaMetrics"].append(count / _sink(v2, lines))
            rates["influxdb-client v2 → VictoriaMetrics"].append(
                count / _client(victoria.url, lines)
            )
            rates["sink v1 → InfluxDB 1.6"].append(count / _sink(v1, lines))
    rows = [
        (name, f"{statistics.median(r):,.0f}", " ".join(f"{x:,.0f}" for x in r))
        for name, r in rates.items()
    ]
    print_table(
        f"InfluxDB writes, {count:,} lines in {BATCH:,}-line gzip requests, "
        f"{repetitions} interleaved runs",
        ("writer", "lines/s (median)", "runs"),
        rows,
    )
