"""Waste processor: fill level, emptying, rate, alerts with hysteresis, reference and merge."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.base import Batch
from processors.waste import WasteConfig, WasteProcessor, fill_percent
from tests.processors import reference
from tests.processors.helpers import (
    AUTUMN,
    HOUR,
    MINUTE,
    SPRING,
    assert_restores_identically,
    assert_same,
    batches_of,
    collect,
    readings,
    run,
    to_batch,
)
from tests.processors.reference import Reading

NAMES = ("fill_pct", "temperature")
FILL = st.integers(0, 200).map(lambda x: x / 2)
TEMPERATURE = st.one_of(st.integers(150, 250), st.integers(150, 800)).map(lambda x: x / 10)
FIELDS = {"fill_pct": FILL, "temperature": TEMPERATURE}


def test_dragino_worked_example_is_36_percent_full() -> None:
    got = fill_percent(
        np.array([812.0, 1200.0, 100.0]), np.array([1100.0] * 3), np.array([300.0] * 3)
    )
    assert got.tolist() == [36.0, 0.0, 100.0]


def series(fills: list[float], step: int = 30 * MINUTE, temperature: float = 18.0) -> list[Reading]:
    return [
        Reading(4, SPRING + i * step, {"fill_pct": f, "temperature": temperature})
        for i, f in enumerate(fills)
    ]


def states(rows: list[Reading]) -> dict[int, dict[str, object]]:
    got = run(WasteProcessor(), [to_batch(rows, NAMES)])
    return {(k[2] - SPRING) // HOUR: v for k, v in got.items() if k[0] == "waste_state"}


def test_fill_is_the_last_value_and_the_rate_is_robust_to_one_noisy_low_reading() -> None:
    fills = [10.0 + i for i in range(12)]
    fills[4] = 2.0  # a single low echo: dropped < 20 % but not confirmed by the next reading
    hourly = states(series(fills))
    assert [hourly[h]["fill_pct"] for h in range(6)] == [11.0, 13.0, 15.0, 17.0, 19.0, 21.0]
    assert all(hourly[h]["emptied"] == 0 for h in hourly)
    assert hourly[5]["fill_rate_pct_h"] == 2.0
    assert hourly[5]["hours_to_full"] == pytest.approx(79 / 2)


def test_confirmed_emptying_is_counted_and_restarts_the_rate() -> None:
    fills = [60.0 + i for i in range(8)] + [5.0, 6.0, 8.0, 10.0]
    hourly = states(series(fills))
    assert hourly[4]["emptied"] == 1
    assert hourly[4]["fill_pct"] == 6.0
    # Theil–Sen over 5, 6, 8, 10 at 4.0, 4.5, 5.0, 5.5 h: median of 2, 3, 3.33, 4, 4, 4 pp/h
    assert hourly[5]["fill_rate_pct_h"] == pytest.approx(11 / 3)


def test_emptying_confirmed_by_a_later_batch_reemits_its_hour() -> None:
    processor = WasteProcessor()
    rows = [*series([70.0, 72.0, 5.0]), Reading(9, SPRING + 3 * HOUR, {"fill_pct": 1.0})]
    first = collect([processor.process(to_batch(rows, NAMES))])
    assert first["waste_state", 4, SPRING + HOUR, ""]["emptied"] == 0
    confirm = Reading(4, SPRING + 90 * MINUTE, {"fill_pct": 7.0})
    again = collect([processor.process(to_batch([confirm], NAMES))])
    assert again["waste_state", 4, SPRING + HOUR, ""]["emptied"] == 1


def test_bin_full_alerts_once_per_fill_cycle() -> None:
    fills = [85.0, 91.0, 92.0, 95.0, 93.0, 96.0, 5.0, 6.0, 40.0, 92.0, 94.0]
    got = run(WasteProcessor(), [to_batch(series(fills, step=HOUR), NAMES)])
    alerts = sorted((k[2] - SPRING) // HOUR for k in got if k[3] == "bin_full")
    assert alerts == [1, 8]  # hour 8: 40 % rising 17.5 pp/h since the emptying, full in 3.4 h


def test_bin_full_also_fires_when_full_within_the_collection_horizon() -> None:
    fills = [10.0 + 5 * i for i in range(8)]  # 5 pp/h: 40 % at hour 6 is 12 h from full
    got = run(
        WasteProcessor(WasteConfig(collection_horizon_h=12)),
        [to_batch(series(fills, step=HOUR), NAMES)],
    )
    assert [(k[2] - SPRING) // HOUR for k in got if k[3] == "bin_full"] == [6]


def test_fire_alerts_on_heat_or_a_jump_once_per_episode() -> None:
    temps = [18.0, 19.0, 31.0, 35.0, 65.0, 58.0, 62.0, 20.0]
    rows = [Reading(2, SPRING + i * HOUR, {"temperature": t}) for i, t in enumerate(temps)]
    rows.append(Reading(2, SPRING + 20 * HOUR, {"temperature": 70.0}))
    got = run(WasteProcessor(), [to_batch(rows, NAMES)])
    fires = {(k[2] - SPRING) // HOUR: v["value"] for k, v in got.items() if k[3] == "fire"}
    assert fires == {2: 31.0, 20: 70.0}


def test_fire_alert_is_sent_at_once_not_after_the_watermark() -> None:
    processor = WasteProcessor()
    processor.process(to_batch([Reading(1, SPRING, {"temperature": 20.0})], NAMES))
    out = processor.process(to_batch([Reading(1, SPRING + MINUTE, {"temperature": 75.0})], NAMES))
    assert [k[3] for k in collect([out])] == ["fire"]
    again = processor.process(
        to_batch([Reading(1, SPRING + 2 * MINUTE, {"temperature": 80.0})], NAMES)
    )
    assert collect([again]) == {}


def test_a_rise_is_judged_against_the_previous_temperature_not_the_previous_reading() -> None:
    # 7 h apart: the second batch's view starts after the 15 °C reading, and the bin's last
    # reading before the view (same instant, sorted after it) carries no temperature.
    rows = [
        Reading(1, SPRING, {"fill_pct": 0.0, "temperature": 15.0}),
        Reading(1, SPRING, {"fill_pct": 0.0}),
        Reading(1, SPRING + 7 * HOUR + MINUTE, {"fill_pct": 0.0, "temperature": 25.1}),
    ]
    got = run(WasteProcessor(), [to_batch(rows[:2], NAMES), to_batch(rows[2:], NAMES)])
    assert [v["value"] for k, v in got.items() if k[3] == "fire"] == [25.1]


AROUND = st.sampled_from([SPRING, AUTUMN])
ROWS = AROUND.flatmap(lambda t: readings(FIELDS, t, devices=2, max_size=50))


@settings(max_examples=50, deadline=None)
@given(ROWS, st.data())
def test_matches_the_reference_and_excludes_failed_readings(
    rows: list[Reading], data: st.DataObject
) -> None:
    failed = data.draw(st.lists(st.sampled_from(rows), max_size=3)) if rows else []
    assert_same(run(WasteProcessor(), [to_batch(rows, NAMES, failed)]), reference.waste(rows))


@settings(max_examples=50, deadline=None)
@given(ROWS.flatmap(lambda rows: st.tuples(st.just(rows), batches_of(rows, NAMES))))
def test_any_batching_and_order_emit_the_same_windows(
    case: tuple[list[Reading], list[Batch]],
) -> None:
    rows, batches = case
    got = run(WasteProcessor(), batches)
    want = run(WasteProcessor(), [to_batch(rows, NAMES)])
    assert_same(
        {k: v for k, v in got.items() if k[0] != "alert"},
        {k: v for k, v in want.items() if k[0] != "alert"},
    )
    assert {(k[1], k[3]) for k in want if k[0] == "alert"} <= {
        (k[1], k[3]) for k in got if k[0] == "alert"
    }


@settings(max_examples=30, deadline=None)
@given(ROWS.flatmap(lambda rows: st.tuples(st.just(rows), st.integers(0, len(rows)))))
def test_in_order_batches_send_the_same_alerts(case: tuple[list[Reading], int]) -> None:
    rows, cut = case
    rows = sorted(rows, key=lambda r: r.time_ns)
    split = run(WasteProcessor(), [to_batch(rows[:cut], NAMES), to_batch(rows[cut:], NAMES)])
    assert_same(split, run(WasteProcessor(), [to_batch(rows, NAMES)]))


SHORT = WasteConfig(horizon_s=3600, rate_lookback_s=2 * 3600, rearm_s=2 * 3600, rate_points=4)


def chained(device: int, start: int, steps: list[tuple[int, float, float | None]]) -> list[Reading]:
    """A bin's readings, each at most ``gap`` minutes after the one before, all with a fill."""
    rows, time_ns = [], start
    for gap, fill, temperature in steps:
        time_ns += gap * MINUTE
        values = {"fill_pct": fill} | ({} if temperature is None else {"temperature": temperature})
        rows.append(Reading(device, time_ns, values))
    return rows


# Fill readings of a bin at most 60 min apart: each one arrives while the hour it confirms an
# emptying in is still within SHORT's 70 min of lateness + horizon (later, that hour is frozen);
# temperatures are sparse, so a rise is often judged against a reading hours back.
RARELY = st.integers(0, 7).flatmap(lambda k: TEMPERATURE if k == 0 else st.none())
STEPS = st.lists(st.tuples(st.integers(0, 60), FILL, RARELY), max_size=25)
CHAINS = st.tuples(AROUND, STEPS, STEPS).map(
    lambda c: sorted(chained(0, c[0], c[1]) + chained(1, c[0], c[2]), key=lambda r: r.time_ns)
)


@settings(max_examples=30, deadline=None)
@given(CHAINS.flatmap(lambda rows: st.tuples(st.just(rows), st.lists(st.integers(0, len(rows))))))
def test_in_order_batches_with_pruned_history_match_the_reference(
    case: tuple[list[Reading], list[int]],
) -> None:
    # A 1 h horizon over streams of up to 25 h: old readings are pruned between batches, and
    # what is kept must still judge every new reading as the whole history would.
    rows, cuts = case
    bounds = [0, *sorted(cuts), len(rows)]
    batches = [to_batch(rows[a:b], NAMES) for a, b in itertools.pairwise(bounds)]
    rules = reference.WasteRules(lookback_h=2, rearm_h=2, rate_points=4)
    assert_same(run(WasteProcessor(SHORT), batches), reference.waste(rows, rules))


@settings(max_examples=25, deadline=None)
@given(ROWS, st.integers(0, 50))
def test_snapshot_restore_continues_identically(rows: list[Reading], cut: int) -> None:
    assert_restores_identically(WasteProcessor, rows, NAMES, cut)


def test_old_readings_are_late_and_history_stays_bounded() -> None:
    processor = WasteProcessor(WasteConfig(horizon_s=3600, rate_lookback_s=3600, rearm_s=3600))
    for h in range(100):
        processor.process(
            to_batch([Reading(d, SPRING + h * HOUR, {"fill_pct": 50.0}) for d in range(3)], NAMES)
        )
    out = processor.process(to_batch([Reading(0, SPRING, {"fill_pct": 1.0})], NAMES))
    assert out.late_count == 1
    assert len(processor.snapshot()) < 20_000
    assert len(processor._readings) <= 3 * 8  # the bound is the point
