"""The other two gaps: the service's own downtime (checkpoint) and `city-ingest backfill`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ingest.cli import main
from ingest.integrations import BACKFILL_CHECKPOINT
from simulators.identifiers import rfc3339
from simulators.manifest import manifest_line
from simulators.servers import InfluxV1, Mosquitto
from simulators.stream import Publication
from tests.backfill.test_outage import SECOND, City, service_settings
from tests.backfill.tts_storage_stub import TtsStorageStub
from tests.e2e import reconcile_run
from tests.test_dedup import FakeClock
from tests.uplinks import clean_uplinks


def _assert_landed(workdir: Path, influxdb: InfluxV1, uplinks: list[Publication]) -> None:
    manifest = [json.loads(manifest_line(u.entry)) for u in uplinks]
    result = reconcile_run(workdir, influxdb, manifest)
    assert result.ok, result.report()


def test_a_start_fetches_everything_since_the_saved_checkpoint(
    mosquitto: Mosquitto, influxdb: InfluxV1, storage_stub: TtsStorageStub, tmp_path: Path
) -> None:
    run = tmp_path / "city"  # the database reconcile_run reads
    run.mkdir()
    uplinks = clean_uplinks(run, "tts", messages=60)
    for uplink in uplinks:
        storage_stub.store(uplink.payload)
    settings = service_settings(run, mosquitto, influxdb, storage_stub)
    checkpoint = settings.processors.state_dir / BACKFILL_CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    first, last = uplinks[0].entry.time_ns, uplinks[-1].entry.time_ns
    checkpoint.write_text(json.dumps({"covered_until_ns": first - 10 * SECOND}))
    clock = FakeClock()
    clock.ns = last + 300 * SECOND  # the service was down while all of them happened

    async def go() -> int:
        async with City(settings, mosquitto, clock) as city:  # waits for the start gap
            return city.backfill.fetched

    assert asyncio.run(go()) == len(uplinks)
    _assert_landed(run, influxdb, uplinks)
    saved = json.loads(checkpoint.read_text())["covered_until_ns"]
    assert saved >= last + 300 * SECOND  # complete up to the stop


def test_the_backfill_command_fetches_a_range_and_repeating_it_is_harmless(
    mosquitto: Mosquitto, influxdb: InfluxV1, storage_stub: TtsStorageStub, tmp_path: Path
) -> None:
    run = tmp_path / "city"
    run.mkdir()
    uplinks = clean_uplinks(run, "tts", messages=40)
    for uplink in uplinks:
        storage_stub.store(uplink.payload)
    service_settings(run, mosquitto, influxdb, storage_stub)
    since = rfc3339(uplinks[10].entry.time_ns)  # stored uplinks arrive ms after their time
    until = rfc3339(uplinks[-1].entry.time_ns + SECOND)
    args = ["backfill", "--config", str(run / "city-ingest.toml"), "--network", "tts"]
    assert main([*args, "--since", since, "--until", until]) == 0
    _assert_landed(run, influxdb, uplinks[10:])
    assert main([*args, "--since", since, "--until", until]) == 0
    _assert_landed(run, influxdb, uplinks[10:])
