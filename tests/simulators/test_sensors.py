"""Sensor models: deterministic, inside the schema's physical ranges, with the expected cycles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from ingest.model import Device, Kind
from ingest.schema import fields_of
from simulators.fleet import generate_fleet
from simulators.sensors import build_model

NS = 1_000_000_000
WEEK_START = int(datetime(2025, 3, 10, tzinfo=UTC).timestamp()) * NS  # a Monday


def _device(kind: Kind) -> Device:
    return next(d for d in generate_fleet(1, seed=2) if d.kind is kind)


def _readings(device: Device, step_s: int, days: int) -> Iterator[tuple[int, dict[str, float]]]:
    model = build_model(device, seed=4)
    for time_ns in range(WEEK_START, WEEK_START + days * 86_400 * NS, step_s * NS):
        yield time_ns, model.read(time_ns)


@pytest.mark.parametrize("kind", list(Kind))
def test_readings_are_deterministic_and_within_physical_ranges(kind: Kind) -> None:
    device = _device(kind)
    first = list(_readings(device, 900, 14))
    assert first == list(_readings(device, 900, 14))
    fields = fields_of(kind)
    for _, values in first:
        for name, value in values.items():
            assert fields[name].low <= value <= fields[name].high, (name, value)


def _local_hour_means(device: Device, name: str) -> dict[int, float]:
    by_hour: dict[int, list[float]] = {}
    for time_ns, values in _readings(device, 600, 5):  # Monday to Friday
        hour = (time_ns // NS // 3600 + 1) % 24  # CET in March
        by_hour.setdefault(hour, []).append(values[name])
    return {hour: float(np.mean(v)) for hour, v in by_hour.items()}


def test_air_has_traffic_peaks_and_a_daily_ozone_cycle() -> None:
    device = replace(_device(Kind.AIR), code=0)
    no2 = _local_hour_means(device, "no2")
    o3 = _local_hour_means(device, "o3")
    assert no2[8] > no2[3] + 5
    assert no2[17] > no2[12]
    assert o3[14] > o3[3]


def test_noise_is_louder_by_day_than_at_night_and_ordered() -> None:
    device = _device(Kind.NOISE)
    laeq = _local_hour_means(device, "laeq")
    assert laeq[13] > laeq[3] + 5
    for _, values in _readings(device, 300, 2):
        assert values["lamin"] <= values["laeq"] <= values["lamax"]


def test_bins_fill_up_and_are_emptied() -> None:
    device = _device(Kind.WASTE)
    assert device.empty_distance_mm is not None
    assert device.full_distance_mm is not None
    span = device.empty_distance_mm - device.full_distance_mm
    readings = [values for _, values in _readings(device, 3600, 28)]
    distance = np.array([r["distance_mm"] for r in readings])
    steps = np.diff(distance)
    assert np.count_nonzero(steps < 0) > 0.7 * len(steps)  # mostly filling (distance shrinking)
    assert np.count_nonzero(steps > 0.3 * span) >= 1  # emptied at least once in four weeks
    battery = np.array([r["battery_v"] for r in readings])
    assert battery[-24:].mean() < battery[:24].mean()
