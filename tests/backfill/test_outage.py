"""A 10-minute outage of a QoS 0 TTS path, recovered from the Storage Integration (stub).

Two in-process services on a fake clock (simulated time: the uplinks carry their own times and
the clock follows them; nothing waits 10 real minutes), each with a real Mosquitto and a real
InfluxDB database of its own, read the same simulated uplinks at QoS 0. The first sees all of
them. The second loses the broker for 10 minutes of simulated time; the uplinks of those minutes
are published to nobody and exist only in the storage stub, as on The Things Stack. After the
reconnect the backfill fetches the gap (plus its overlap, deduplicated), and both databases end
with the same content.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.pipeline import Pipeline
from ingest.plan import plan
from ingest.settings import Settings, load_settings
from ingest.sources.backfill import BackfillSource
from ingest.sources.inbox import SourceState
from simulators.servers import InfluxV1, Mosquitto, wait_until
from simulators.servers.service import write_service_config
from simulators.stream import Publication
from tests.backfill.conftest import API_KEY, APPLICATION
from tests.backfill.tts_storage_stub import TtsStorageStub
from tests.test_dedup import FakeClock
from tests.uplinks import clean_uplinks

SECOND = 1_000_000_000
OUTAGE_NS = 600 * SECOND


def service_settings(
    run: Path, mosquitto: Mosquitto, influxdb: InfluxV1, stub: TtsStorageStub
) -> Settings:
    (run / "tts.key").write_text(API_KEY, encoding="utf-8")
    backfill = f"""
[backfill]
url = "{stub.url}"
application_id = "{APPLICATION}"
token_file = "{run / "tts.key"}"
checkpoint_interval = 0.5
"""
    path = write_service_config(
        run, mqtt_port=mosquitto.port, influx_url=influxdb.url, extra=backfill
    )
    influxdb.create_database(run.name)
    environ = {
        "CITY_INGEST_INFLUXDB__DATABASE": run.name,
        "CITY_INGEST_MQTT__RECONNECT_MAX_DELAY": "0.5",
    }
    return load_settings(path, environ)


class City:
    """One in-process service on a fake clock, and a QoS 0 publisher standing in for TTS."""

    def __init__(self, settings: Settings, mosquitto: Mosquitto, clock: FakeClock) -> None:
        self.pipeline = Pipeline(plan(settings), now=clock)
        self.backfill = next(s for s in self.pipeline.sources if isinstance(s, BackfillSource))
        self.clock = clock
        self._mosquitto = mosquitto
        self._stop = asyncio.Event()

    async def __aenter__(self) -> City:
        self._task = asyncio.create_task(self.pipeline.run(self._stop))
        await _until(lambda: self.pipeline.source.state is SourceState.SUBSCRIBED)
        await _until(lambda: self.backfill.gaps_done == 1)  # the start gap: nothing stored yet
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await self._task

    async def publish(self, uplinks: Sequence[Publication]) -> None:
        """Publish at QoS 0 as the uplinks happen (the clock follows), then wait until the
        service has an outcome for every message it received."""
        publisher = paho.Client(CallbackAPIVersion.VERSION2)
        publisher.connect("127.0.0.1", self._mosquitto.port)
        publisher.loop_start()
        try:
            for uplink in uplinks:
                self.clock.ns = uplink.entry.time_ns + SECOND
                info = publisher.publish(uplink.topic, uplink.payload, qos=0)
                await asyncio.to_thread(info.wait_for_publish, 5.0)
        finally:
            publisher.loop_stop()
            publisher.disconnect()
        await self.settled(len(uplinks))

    async def settled(self, more: int) -> None:
        expected = self.pipeline.totals.received + more

        def done() -> bool:
            totals = self.pipeline.totals
            return totals.received >= expected and totals.balanced() and not self.pipeline.in_flight

        await _until(done)


async def _until(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    await asyncio.to_thread(wait_until, predicate, timeout)


async def _without_outage(
    settings: Settings, mosquitto: Mosquitto, uplinks: list[Publication]
) -> None:
    clock = FakeClock()
    clock.ns = uplinks[0].entry.time_ns - 300 * SECOND
    async with City(settings, mosquitto, clock) as city:
        await city.publish(uplinks)


async def _with_outage(
    settings: Settings, mosquitto: Mosquitto, uplinks: list[Publication], start_ns: int
) -> dict[str, int]:
    before = [u for u in uplinks if u.entry.time_ns < start_ns]
    after = [u for u in uplinks if u.entry.time_ns >= start_ns + OUTAGE_NS]
    clock = FakeClock()
    clock.ns = uplinks[0].entry.time_ns - 300 * SECOND
    async with City(settings, mosquitto, clock) as city:
        await city.publish(before)
        clock.ns = start_ns
        mosquitto.stop()
        await _until(lambda: city.backfill.down_since is not None)
        clock.ns = start_ns + OUTAGE_NS  # 10 minutes pass; their uplinks reach only storage
        mosquitto.restart()
        await _until(lambda: city.backfill.gaps_done == 2, timeout=60.0)
        await city.settled(0)
        recovered = city.backfill.fetched
        await city.publish(after)
        totals = city.pipeline.totals
    lost = len(uplinks) - len(before) - len(after)
    return {"lost": lost, "fetched": recovered, "duplicates": totals.outcomes.get("duplicate", 0)}


def _content(influxdb: InfluxV1, database: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every measurement in every retention policy of ``database``."""
    policies = [row["name"] for row in influxdb.query("SHOW RETENTION POLICIES", database)]
    names = [row["name"] for row in influxdb.query("SHOW MEASUREMENTS", database)]
    content: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        rows = [
            row
            for policy in policies
            for row in influxdb.query(
                f'SELECT * FROM "{database}"."{policy}"."{name}" GROUP BY *', database
            )
        ]
        content[name] = sorted(rows, key=lambda row: sorted((k, str(v)) for k, v in row.items()))
    return content


def test_a_ten_minute_outage_is_recovered_from_storage(
    mosquitto: Mosquitto, influxdb: InfluxV1, storage_stub: TtsStorageStub, tmp_path: Path
) -> None:
    uplinks = clean_uplinks(tmp_path, "tts", messages=400)
    for uplink in uplinks:
        storage_stub.store(uplink.payload)
    (tmp_path / "pseudonym.key").write_text(secrets.token_hex(32), encoding="utf-8")
    runs = {name: tmp_path / name for name in ("whole", "outage")}
    for run in runs.values():  # the same devices and pseudonyms in both databases
        run.mkdir()
        shutil.copy(tmp_path / "devices.csv", run)
        shutil.copy(tmp_path / "pseudonym.key", run)
    asyncio.run(
        _without_outage(
            service_settings(runs["whole"], mosquitto, influxdb, storage_stub), mosquitto, uplinks
        )
    )
    middle = uplinks[len(uplinks) // 2].entry.time_ns
    figures = asyncio.run(
        _with_outage(
            service_settings(runs["outage"], mosquitto, influxdb, storage_stub),
            mosquitto,
            uplinks,
            middle,
        )
    )
    assert figures["lost"] >= 20
    assert figures["fetched"] >= figures["lost"]
    whole, recovered = _content(influxdb, "whole"), _content(influxdb, "outage")
    assert {"air", "noise", "waste", "link", "air_1h", "noise_1h"} <= set(whole)  # aggregates too
    assert sorted(whole) == sorted(recovered)
    for measurement, rows in whole.items():
        assert rows == recovered[measurement], measurement
    rows = sum(len(r) for r in whole.values())
    assert rows > len(uplinks)  # readings, links and aggregates: the comparison is not vacuous
    print(f"outage recovery: {figures}; {rows} rows in {len(whole)} measurements equal")  # noqa: T201
