"""Processor output to line protocol, and processor state across a stop and start."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ingest.aggregation import Aggregator, points_lines
from ingest.model import Kind
from ingest.settings import ProcessorSettings
from processors import AirConfig, Batch, Points
from processors.base import ABSENT_INT

HOUR = 3_600_000_000_000
T0 = 1_774_000_000 * 1_000_000_000 // HOUR * HOUR  # an hour boundary in 2026
EMPTY = np.full(2, np.nan)  # no bins among the two devices
TAGS = [",device=a,district=x", ",device=b,district=y"]


def test_points_lines_skip_absent_values_and_carry_extra_tags() -> None:
    points = Points(
        "alert",
        np.array([0, 1], dtype=np.int32),
        np.array([T0, T0 + 1], dtype=np.int64),
        {
            "value": np.array([1.5, np.nan]),
            "count": np.array([3, ABSENT_INT]),
            "message": np.array(['too "loud"', ""]),
            "silent": np.array([True, False]),
        },
        {"type": np.array(["noise_exceedance", "fire"])},
    )
    assert points_lines([points], TAGS) == [
        f"alert,device=a,district=x,type=noise_exceedance value=1.5,count=3i,"
        f'message="too \\"loud\\"",silent=true {T0}',
        f"alert,device=b,district=y,type=fire silent=false {T0 + 1}",
    ]


def air_batch(hours: int) -> Batch:
    times = T0 + np.arange(hours * 6, dtype=np.int64) * (HOUR // 6)
    return Batch(
        np.zeros(times.size, dtype=np.int32),
        times,
        {"pm25": np.full(times.size, 10.0)},
        {"pm25": np.ones(times.size, np.uint8)},
    )


def test_state_survives_save_and_load(tmp_path: Path) -> None:
    settings = ProcessorSettings(state_dir=tmp_path)
    first = Aggregator(settings, EMPTY)
    first.process([(Kind.AIR, air_batch(1))])  # one open hour, not emitted yet
    first.save()
    second = Aggregator(settings, EMPTY)
    second.load()
    fresh = Aggregator(settings, EMPTY)
    later = air_batch(3).take(np.arange(6, 18))  # hours 2 and 3 close hour 1
    emitted = second.process([(Kind.AIR, later)])
    lost = fresh.process([(Kind.AIR, later)])
    hours = {
        p.measurement: dict(zip(p.time_ns.tolist(), p.fields["pm25_count"].tolist(), strict=True))
        for p in emitted
    }
    assert hours["air_1h"][T0] == 6  # hour 1 was restored from the saved state
    assert all(T0 not in p.time_ns.tolist() for p in lost)  # without it, hour 1 is gone


def test_state_of_another_time_zone_is_not_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Aggregator(ProcessorSettings(state_dir=tmp_path), EMPTY).save()
    other = ProcessorSettings(state_dir=tmp_path, air=AirConfig(timezone="Europe/London"))
    with caplog.at_level(logging.WARNING):
        Aggregator(other, EMPTY).load()
    assert "not restoring" in caplog.text
    assert "air.npz" in caplog.text
