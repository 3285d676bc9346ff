"""Validation: QARTOD range flags (value kept), missing values, and the waste fill percentage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ingest.decoders import decoder_kinds, load_config
from ingest.model import Kind
from ingest.registry import Registry, load_registry
from ingest.validation import QC_FAIL, QC_MISSING, QC_PASS, validate
from processors.waste import fill_percent
from tests.test_registry import AIR, BIN, CONFIG, write_registry

NAN = math.nan


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    path = write_registry(tmp_path_factory.mktemp("registry") / "devices.csv", [AIR, BIN])
    return load_registry(path, decoder_kinds(load_config(CONFIG / "decoders.toml")))


def test_flags_in_range_out_of_range_and_missing(registry: Registry) -> None:
    pm25 = np.array([12.0, -1.0, 5000.0, NAN, 0.0, 1000.0])
    readings = validate(
        Kind.AIR,
        np.zeros(6, dtype=np.int32),
        np.arange(6, dtype=np.int64),
        {"pm25": pm25, "humidity": np.array([50.0, 50.0, 50.0, 50.0, 101.0, NAN])},
        registry,
    )
    assert readings.qc["pm25"].tolist() == [1, 4, 4, 9, 1, 1]  # range ends are in range
    assert readings.qc["humidity"].tolist() == [1, 1, 1, 1, 4, 9]
    np.testing.assert_array_equal(readings.values["pm25"], pm25)  # failed values are kept
    assert readings.qc["pm25"].dtype == np.uint8
    assert len(readings) == 6


def test_flag_values_are_qartod() -> None:
    assert (int(QC_PASS), int(QC_FAIL), int(QC_MISSING)) == (1, 4, 9)


def test_infinite_value_fails(registry: Registry) -> None:
    readings = validate(
        Kind.NOISE,
        np.zeros(2, dtype=np.int32),
        np.arange(2, dtype=np.int64),
        {"laeq": np.array([math.inf, -math.inf])},
        registry,
    )
    assert readings.qc["laeq"].tolist() == [4, 4]


def test_dragino_worked_example() -> None:
    # E = 1100 mm (empty), F = 300 mm (full), d = 812 mm: 100·(1100 − 812)/(1100 − 300) = 36 %
    fill = fill_percent(np.array([812.0]), np.array([1100.0]), np.array([300.0]))
    assert fill.tolist() == [36.0]


def test_fill_is_clamped_and_missing_stays_missing() -> None:
    distance = np.array([1300.0, 1100.0, 300.0, 100.0, NAN])
    fill = fill_percent(distance, np.full(5, 1100.0), np.full(5, 300.0))
    assert fill[:4].tolist() == [0.0, 0.0, 100.0, 100.0]
    assert math.isnan(fill[4])


def test_waste_readings_get_fill_from_the_registry(registry: Registry) -> None:
    readings = validate(
        Kind.WASTE,
        np.array([1, 1, 1], dtype=np.int32),  # code 1 is the bin (E 1100, F 300)
        np.arange(3, dtype=np.int64),
        {"distance_mm": np.array([812.0, 9000.0, NAN])},
        registry,
    )
    assert readings.values["fill_pct"][0] == 36.0
    assert readings.values["fill_pct"][1] == 0.0  # clamped: the reading itself fails
    assert readings.qc["distance_mm"].tolist() == [1, 4, 9]
    assert readings.qc["fill_pct"].tolist() == [1, 4, 9]  # as doubtful as its distance
