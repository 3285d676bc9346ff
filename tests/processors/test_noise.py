"""Noise processor: worked examples, DST days, reference comparison, merge and snapshots."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.base import Batch
from processors.noise import NoiseConfig, NoiseProcessor, energy, lden, level
from tests.processors import reference
from tests.processors.helpers import (
    AUTUMN,
    END,
    HOUR,
    MINUTE,
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

NAMES = ("laeq", "lamax")
LEVEL = st.integers(300, 1100).map(lambda x: x / 10)
FIELDS = dict.fromkeys(NAMES, LEVEL)
SAMPLES = [52, 54, 55, 55, 56, 57, 58, 60, 63, 71]


def hour_of(levels: list[float], start: int = SPRING) -> dict[str, object]:
    rows = [
        Reading(7, start + i * MINUTE, {"laeq": v, "lamax": v + 3}) for i, v in enumerate(levels)
    ]
    return run(NoiseProcessor(), [to_batch(rows, NAMES)])["noise_1h", 7, start, ""]


def test_laeq_of_the_five_minutes_is_the_energetic_mean() -> None:
    assert round(hour_of([62, 65, 71, 58, 64])["laeq"], 1) == 66.1
    assert round(float(level(np.mean(energy(np.array([62.0, 65, 71, 58, 64]))))), 1) == 66.1


def test_percentiles_of_the_ten_samples() -> None:
    hour = hour_of(SAMPLES)
    got = [round(hour[k], 1) for k in ("l10", "l50", "l90", "laeq", "lamax")]
    assert got == [63.8, 56.5, 53.8, 62.6, 74.0]
    assert hour["count"] == 10


@pytest.mark.parametrize(
    ("day", "evening", "night", "expected"), [(62, 58, 52, 62.2), (65, 60, 55, 65.0)]
)
def test_lden_worked_examples(day: float, evening: float, night: float, expected: float) -> None:
    got = lden(np.array([day]), np.array([evening]), np.array([night]))[0]
    assert round(float(got), 1) == expected


def full_day(day: date, step: int = MINUTE) -> list[Reading]:
    start = reference.local_at(day, 7)
    end = reference.local_at(date.fromordinal(day.toordinal() + 1), 7)
    return [Reading(3, t, {"laeq": 50.0 + (t // HOUR) % 3}) for t in range(start, end, step)]


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 28), 23), (date(2026, 10, 24), 25), (date(2026, 6, 1), 24)]
)
def test_dst_days_cover_their_actual_duration(day: date, hours: int) -> None:
    rows = full_day(day)
    assert len(rows) == hours * 60
    got = run(NoiseProcessor(), [to_batch(rows, NAMES)])
    point = got["noise_1d", 3, reference.local_midnight(day), ""]
    assert point["coverage"] == 1.0
    assert_same(
        {k: v for k, v in got.items() if k[0] == "noise_1d"},
        {k: v for k, v in reference.noise(rows).items() if k[0] == "noise_1d"},
    )


def test_night_of_a_day_runs_from_23_to_07_next_morning() -> None:
    day = date(2026, 6, 1)
    rows = [
        Reading(1, reference.local_at(day, 12), {"laeq": 60.0}),
        Reading(1, reference.local_at(day, 20), {"laeq": 55.0}),
        Reading(1, reference.local_at(day, 23) + 30 * MINUTE, {"laeq": 40.0}),
        Reading(1, reference.local_at(date(2026, 6, 2), 6), {"laeq": 50.0}),
    ]
    point = run(NoiseProcessor(), [to_batch(rows, NAMES)])[
        "noise_1d", 1, reference.local_midnight(day), ""
    ]
    assert (point["lday"], point["levening"]) == (60.0, 55.0)
    assert point["lnight"] == pytest.approx(reference.energetic_mean([40.0, 50.0]))


def test_exceedance_alert_needs_coverage() -> None:
    loud = [Reading(r.device, r.time_ns, {"laeq": 70.0}) for r in full_day(date(2026, 6, 1))]
    minutely = NoiseConfig(interval_s=60.0)  # full_day() gives one reading a minute
    covered = run(NoiseProcessor(minutely), [to_batch(loud, NAMES)])
    alerts = [k for k in covered if k[0] == "alert"]
    assert [k[3] for k in alerts] == ["noise_exceedance"]
    assert covered[alerts[0]]["value"] == pytest.approx(76.4, abs=0.05)
    sparse = run(NoiseProcessor(minutely), [to_batch(loud[::2], NAMES)])
    assert [k for k in sparse if k[0] == "alert"] == []


def test_percentiles_beyond_the_sample_size_come_from_a_bounded_sample() -> None:
    rows = [Reading(0, SPRING + i * 10**9, {"laeq": float(i % 100)}) for i in range(600)]
    config = NoiseConfig(sample_size=200)
    one = run(NoiseProcessor(config), [to_batch(rows, NAMES)])["noise_1h", 0, SPRING, ""]
    parts = run(NoiseProcessor(config), [to_batch(rows[i::3], NAMES) for i in range(3)])
    assert parts["noise_1h", 0, SPRING, ""] == one
    assert one["count"] == 600
    assert one["l50"] == pytest.approx(49.5, abs=8)


AROUND = st.sampled_from([SPRING, AUTUMN])


@settings(max_examples=40, deadline=None)
@given(AROUND.flatmap(lambda t: readings(FIELDS, t, span_ns=40 * HOUR)), st.data())
def test_matches_the_reference_and_excludes_failed_readings(
    rows: list[Reading], data: st.DataObject
) -> None:
    failed = data.draw(st.lists(st.sampled_from(rows), max_size=3)) if rows else []
    got = run(NoiseProcessor(), [to_batch(rows, NAMES, failed)])
    assert_same(got, reference.noise(rows))


@settings(max_examples=40, deadline=None)
@given(
    AROUND.flatmap(lambda t: readings(FIELDS, t)).flatmap(
        lambda rows: st.tuples(st.just(rows), batches_of(rows, NAMES))
    )
)
def test_any_batching_and_order_emit_the_same_windows(
    case: tuple[list[Reading], list[Batch]],
) -> None:
    rows, batches = case
    assert_merged(run(NoiseProcessor(), batches), run(NoiseProcessor(), [to_batch(rows, NAMES)]))


@settings(max_examples=25, deadline=None)
@given(readings(FIELDS, SPRING), st.integers(0, 40))
def test_snapshot_restore_continues_identically(rows: list[Reading], cut: int) -> None:
    assert_restores_identically(NoiseProcessor, rows, NAMES, cut)


def test_late_reading_goes_to_the_late_output() -> None:
    processor = NoiseProcessor(NoiseConfig(horizon_s=2 * 3600))
    processor.process(to_batch([Reading(0, SPRING + 10 * HOUR, {"laeq": 50.0})], NAMES))
    out = processor.process(to_batch([Reading(0, SPRING, {"laeq": 90.0})], NAMES))
    assert (out.late_count, out.late.values["laeq"].tolist()) == (1, [90.0])
    assert ("noise_1h", 0, SPRING, "") not in collect([out, processor.flush(END)])
