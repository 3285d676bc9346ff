"""A flood of malformed and oversized messages interleaved with good ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.decoders import load_config
from ingest.model import Kind, Network, Outcome, Reason
from simulators.fastpub import fast_publish
from simulators.fleet import load_or_create_fleet
from simulators.manifest import ManifestEntry, manifest_line
from simulators.stream import DEFAULT_INTERVALS_S, MIXED, Scenario, default_start, generate
from tests.e2e import DECODERS, OUTCOMES, expected_counts, wait_for_accounting
from tests.faults.harness import City
from tests.faults.report import Figures

pytestmark = pytest.mark.faults

SIMULATED = 19_500  # half of them malformed by the simulator
OVERSIZED = 500
OVERSIZED_BYTES = 80 * 1024  # above mqtt.max_message_bytes (64 KiB by default)
RSS_LIMIT_MIB = 256.0  # measured: ~100 MiB for a plain 20 k run, 160 MiB for this one


def _oversized(index: int) -> tuple[tuple[str, bytes], dict[str, Any]]:
    """A TTS-routed message padded past the size limit, and its manifest entry."""
    topic = f"v3/city@ttn/devices/oversized-{index}/up"
    payload = b'{"padding": "' + b"x" * OVERSIZED_BYTES + b'"}'
    entry = ManifestEntry(
        seq=1_000_000 + index,
        topic=topic,
        network=Network.TTS,
        dev_eui="",
        device_id=None,
        kind=Kind.AIR,
        f_cnt=None,
        time_ns=0,
        values={},
        fault="oversized",
        expect=Outcome.DEAD_LETTER,
        reason=Reason.BAD_ENVELOPE,
        detail="envelope.too_large",
    )
    return (topic, payload), orjson.loads(manifest_line(entry))


def _hostile_stream(city: City) -> list[tuple[str, bytes]]:
    """The simulator's stream (50 % malformed) with an oversized message every 39th; the
    manifest of all of it goes to ``city.manifest``."""
    decoders = load_config(DECODERS)
    devices = load_or_create_fleet(city.workdir / "devices.csv", 20, 41, decoders)
    start = default_start(devices, SIMULATED, DEFAULT_INTERVALS_S, time.time_ns())
    scenario = Scenario(MIXED, SIMULATED, seed=48, start_ns=start, malformed=0.5, duplicates=0)
    messages: list[tuple[str, bytes]] = []
    for seq, publication in enumerate(generate(scenario, devices, decoders)):
        if seq % 39 == 0 and seq // 39 < OVERSIZED:
            message, entry = _oversized(seq // 39)
            messages.append(message)
            city.manifest.append(entry)
        messages.append((publication.topic, publication.payload))
        city.manifest.append(orjson.loads(manifest_line(publication.entry)))
    return messages


def test_malformed_and_oversized_flood(city: City, record: Callable[[Figures], None]) -> None:
    """All good uplinks written, every bad one dead-lettered with its reason, memory bounded."""
    messages = _hostile_stream(city)
    with city.service() as service:
        fast_publish(city.broker.host, city.broker.port, messages)
        counts = wait_for_accounting(service, len(messages), timeout=120)
        figures, result = city.conclude("10 k malformed/oversized + 10 k good", service)
    record(figures)
    expected = expected_counts(city.manifest)
    assert expected["dead_letter"] >= 10_000
    assert {o: counts[o] for o in OUTCOMES} == {o: expected[o] for o in OUTCOMES}
    assert result.ok, result.report()
    assert figures.peak_rss_mib <= RSS_LIMIT_MIB
