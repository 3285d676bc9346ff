"""Air processor: worked examples, band edges, reference comparison, merge and late data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import ConfigError
from processors.air_index import AirConfig, AirProcessor, eaqi, lki
from processors.base import Batch
from tests.processors import reference
from tests.processors.helpers import (
    AUTUMN,
    END,
    HOUR,
    SPRING,
    assert_merged,
    assert_restores_identically,
    assert_same,
    batches_of,
    collect,
    readings,
    run,
    to_batch,
)
from tests.processors.reference import Reading

NAMES = ("pm25", "pm10", "no2", "o3")
# Values on a 0.5 grid: sums are exact, so band edges compare the same in any order.
VALUE = st.integers(0, 400).map(lambda x: x / 2)
FIELDS = dict.fromkeys(NAMES, VALUE)


def means(**values: float) -> dict[str, np.ndarray]:
    return {name: np.array([values.get(name, np.nan)]) for name in NAMES}


def test_worked_example_gives_eaqi_3_driven_by_pm25_and_lki_6() -> None:
    hour = means(pm25=18, pm10=30, no2=42, o3=95)
    level, driver = eaqi(hour)
    assert (level[0], driver[0]) == (3, "pm25")
    assert lki(hour)[0] == 6


@pytest.mark.parametrize(
    ("name", "value", "level"),
    [
        ("pm25", 5.0, 1),
        ("pm25", 5.01, 2),
        ("pm25", 140.0, 5),
        ("pm25", 140.01, 6),
        ("pm10", 45.0, 2),
        ("no2", 10.0, 1),
        ("no2", 150.5, 6),
        ("o3", 100.0, 2),
        ("o3", 0.0, 1),
    ],
)
def test_eaqi_upper_edge_belongs_to_the_lower_level(name: str, value: float, level: int) -> None:
    assert eaqi(means(**{name: value}))[0][0] == level


@pytest.mark.parametrize(
    ("name", "value", "level"),
    [("pm10", 30.0, 4), ("pm10", 29.99, 3), ("pm25", 140.0, 11), ("o3", 14.9, 1), ("no2", 200, 11)],
)
def test_lki_lower_edge_is_inclusive(name: str, value: float, level: int) -> None:
    assert lki(means(**{name: value}))[0] == level


def test_lki_adds_one_when_all_measured_pollutants_agree_and_caps_at_11() -> None:
    assert lki(means(pm25=12, pm10=12))[0] == 3  # both level 2
    assert lki(means(pm25=12))[0] == 2  # one pollutant: no "+1"
    assert lki(means(pm25=500, pm10=500))[0] == 11


def test_eaqi_tie_reports_the_first_pollutant_in_fixed_order() -> None:
    level, driver = eaqi(means(no2=42, o3=110, pm10=50))  # all level 3
    assert (level[0], driver[0]) == (3, "pm10")


def test_no_pollutant_leaves_indices_absent() -> None:
    level, driver = eaqi(means())
    assert (level[0], driver[0], lki(means())[0]) == (-1, "", -1)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([SPRING, AUTUMN]).flatmap(lambda t: readings(FIELDS, t)), st.data())
def test_matches_the_reference_and_excludes_failed_readings(
    rows: list[Reading], data: st.DataObject
) -> None:
    failed = data.draw(st.lists(st.sampled_from(rows), max_size=3)) if rows else []
    got = run(AirProcessor(), [to_batch(rows, NAMES, failed)])
    assert_same(got, reference.air(rows))


@settings(max_examples=40, deadline=None)
@given(
    readings(FIELDS, SPRING).flatmap(lambda rows: st.tuples(st.just(rows), batches_of(rows, NAMES)))
)
def test_any_batching_and_order_emit_the_same_windows(
    case: tuple[list[Reading], list[Batch]],
) -> None:
    rows, batches = case
    assert_merged(run(AirProcessor(), batches), run(AirProcessor(), [to_batch(rows, NAMES)]))


def reading(device: int, time_ns: int, pm25: float) -> Reading:
    return Reading(device, time_ns, {"pm25": pm25})


def test_window_is_emitted_once_the_watermark_passes_its_end() -> None:
    processor = AirProcessor(AirConfig(lateness_s=600))
    first = processor.process(to_batch([reading(1, SPRING, 10.0)], NAMES))
    assert collect([first]) == {}
    almost = processor.process(to_batch([reading(2, SPRING + HOUR + 9 * 60 * 10**9, 1.0)], NAMES))
    assert collect([almost]) == {}
    closing = processor.process(to_batch([reading(2, SPRING + HOUR + 10 * 60 * 10**9, 1.0)], NAMES))
    assert list(collect([closing])) == [("air_1h", 1, SPRING, "")]


def test_late_reading_inside_the_horizon_updates_and_reemits_its_window() -> None:
    processor = AirProcessor()
    processor.process(
        to_batch([reading(1, SPRING, 10.0), reading(1, SPRING + 5 * HOUR, 1.0)], NAMES)
    )
    again = processor.process(to_batch([reading(1, SPRING + 60 * 10**9, 20.0)], NAMES))
    point = collect([again])["air_1h", 1, SPRING, ""]
    assert (point["pm25_mean"], point["pm25_count"], again.late_count) == (15.0, 2, 0)


def test_reading_beyond_the_horizon_is_late_and_not_folded_in() -> None:
    processor = AirProcessor(AirConfig(horizon_s=3600))
    processor.process(to_batch([reading(1, SPRING + 5 * HOUR, 1.0)], NAMES))
    out = processor.process(
        to_batch([reading(1, SPRING, 500.0), reading(1, SPRING + 5 * HOUR, 3.0)], NAMES)
    )
    assert out.late_count == 1
    assert out.late.values["pm25"][0] == 500.0
    final = collect([processor.flush(END)])
    assert final["air_1h", 1, SPRING + 5 * HOUR, ""]["pm25_max"] == 3.0
    assert all(key[2] != SPRING for key in final)


def test_closed_windows_beyond_the_horizon_are_freed() -> None:
    processor = AirProcessor(AirConfig(horizon_s=3600))
    processor.process(to_batch([reading(d, SPRING, 1.0) for d in range(50)], NAMES))
    processor.process(to_batch([reading(0, SPRING + 30 * HOUR, 1.0)], NAMES))
    assert len(processor.stores["hours"]) == 1
    assert len(processor.stores["days"]) == 1


def test_daily_who_exceedance_alerts_once_per_device_day() -> None:
    processor = AirProcessor()
    day = [reading(1, SPRING + h * HOUR, 20.0) for h in range(3)]
    first = collect([processor.process(to_batch(day, NAMES)), processor.flush(SPRING + 30 * HOUR)])
    alerts = {k: v for k, v in first.items() if k[0] == "alert"}
    assert alerts == {
        (
            "alert",
            1,
            reference.local_midnight(reference.local_time(SPRING).date()),
            "air_exceedance",
        ): {"value": 20.0}
    }
    again = processor.process(to_batch([reading(1, SPRING + HOUR // 2, 30.0)], NAMES))
    rewritten = {k: v for k, v in collect([again]).items() if k[0] == "alert"}
    assert list(rewritten) == list(alerts)
    assert rewritten[next(iter(alerts))]["value"] == 22.5


@settings(max_examples=25, deadline=None)
@given(readings(FIELDS, AUTUMN), st.integers(0, 40))
def test_snapshot_restore_continues_identically(rows: list[Reading], cut: int) -> None:
    assert_restores_identically(AirProcessor, rows, NAMES, cut)


def test_restore_refuses_a_snapshot_of_another_layout_but_not_new_thresholds() -> None:
    data = AirProcessor().snapshot()
    AirProcessor(AirConfig(who_pm25_24h=25)).restore(data)
    with pytest.raises(ConfigError, match="state layout differs"):
        AirProcessor(AirConfig(timezone="Europe/London")).restore(data)
