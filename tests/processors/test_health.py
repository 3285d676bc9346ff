"""Device health: frame-counter gaps, silent hours, alerts with hysteresis, and a reference."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import ConfigError
from processors.base import Outputs, Points
from processors.health import HealthConfig, HealthProcessor, LinkBatch, count_missed

HOUR = 3_600 * 10**9
MIN = 60 * 10**9
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00Z, an hour start
END = T0 + 48 * HOUR


def links(
    rows: Sequence[tuple[int, int, int]],
    battery: float = 3.6,
    fail: int = 0,
) -> LinkBatch:
    """(device, time, f_cnt) rows as a link batch."""
    n = len(rows)
    return LinkBatch(
        np.array([r[0] for r in rows], dtype=np.int32),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.full(n, -100.0),
        np.full(n, battery),
        np.zeros(n, dtype=np.int64),
        np.full(n, fail, dtype=np.int64),
    )


def health_rows(outputs: Sequence[Outputs]) -> dict[tuple[int, int], dict[str, object]]:
    rows: dict[tuple[int, int], dict[str, object]] = {}
    for out in outputs:
        for block in out.points:
            if block.measurement == "device_health":
                for i in range(len(block)):
                    key = (int(block.device[i]), int(block.time_ns[i] - T0) // HOUR)
                    assert key not in rows  # every hour is emitted once
                    rows[key] = {k: _plain(v[i].item()) for k, v in block.fields.items()}
    return rows


def _plain(value: object) -> object:
    """NaN as None, so that rows compare equal."""
    return None if isinstance(value, float) and math.isnan(value) else value


def alerts(outputs: Sequence[Outputs]) -> list[tuple[str, int, int]]:
    """(type, device, hour) of every alert."""
    found: list[tuple[str, int, int]] = []
    for out in outputs:
        for block in out.points:
            if block.measurement == "alert":
                assert block.tags is not None
                found += [
                    (str(k), int(d), int(t - T0) // HOUR)
                    for k, d, t in zip(block.tags["type"], block.device, block.time_ns, strict=True)
                ]
    return found


def every(
    minutes: int, hours: float, device: int = 0, first: int = 0
) -> list[tuple[int, int, int]]:
    """A device reporting every ``minutes`` for ``hours``, counters from ``first``."""
    count = int(hours * 60 / minutes)
    return [(device, T0 + i * minutes * MIN + 7 * 10**9, first + i) for i in range(count)]


@pytest.mark.parametrize(
    ("last", "f_cnt", "missed", "repeat"),
    [
        (10, 11, 0, False),  # next frame
        (10, 15, 4, False),  # frames 11-14 lost
        (10, 10, 0, True),  # the same frame again (retransmission)
        (65535, 2, 2, False),  # 16-bit rollover: 0 and 1 lost
        (65530, 0, 5, False),
        (5000, 0, 0, False),  # reset (rejoin): the series restarts
        (5000, 3, 0, False),
        (10, 10 + 16385, 0, False),  # beyond MAX_FCNT_GAP: a reset, not 16385 lost frames
        (70000, 5, 0, False),  # a 32-bit counter cannot roll over at 16 bits
        (-1, 7, 0, False),  # no earlier counter
        (10, -1, 0, False),  # unknown counter (KPN SenML)
    ],
)
def test_frame_counter_rules(last: int, f_cnt: int, missed: int, repeat: bool) -> None:
    lost, repeated = count_missed(np.array([last]), np.array([f_cnt]))
    assert (int(lost[0]), bool(repeated[0])) == (missed, repeat)


def test_hourly_counts_from_shuffled_uplinks() -> None:
    rows = every(10, 2)  # 12 uplinks, counters 0..11
    rows = [r for r in rows if r[2] not in {3, 4}]  # two lost in hour 0
    rows.append(rows[-1])  # a retransmission of the last frame
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    processor = HealthProcessor()
    out = [processor.process(links(shuffled).batch()), processor.flush(T0 + 2 * HOUR)]
    hours = health_rows(out)
    assert hours[0, 0]["uplinks"] == 4
    assert hours[0, 0]["missed"] == 2
    assert hours[0, 1]["uplinks"] == 6  # the repeat is not an uplink
    assert hours[0, 1]["missed"] == 0
    assert hours[0, 0]["rssi_mean"] == -100.0
    assert hours[0, 0]["silent"] is False


def test_reset_and_out_of_order_uplinks_count_no_missed_frames() -> None:
    processor = HealthProcessor()
    first = [(0, T0 + i * 10 * MIN, 500 + i) for i in range(3)]
    late = [(0, T0 + 15 * MIN, 501)]  # older than the newest: counted, no gap logic
    rejoined = [(0, T0 + (3 + i) * 10 * MIN, i) for i in range(3)]  # counter back to 0
    out = [processor.process(links(b).batch()) for b in (first, late, rejoined)]
    out.append(processor.flush(T0 + HOUR))
    row = health_rows(out)[0, 0]
    assert row["battery_v"] == pytest.approx(3.6)
    assert {**row, "battery_v": 0} == {
        "uplinks": 7,
        "missed": 0,
        "rssi_mean": -100.0,
        "battery_v": 0,
        "silent": False,
        "qc_suspect": 0,
        "qc_fail": 0,
    }


def test_a_silent_device_is_reported_every_hour_with_one_alert() -> None:
    rows = [*every(10, 2), *[(0, t + 5 * HOUR, f + 50) for _, t, f in every(10, 2)]]
    rows = sorted([*rows, *every(10, 7, device=1)], key=lambda r: r[1])  # device 1: the clock
    processor = HealthProcessor()
    out = [processor.process(links(rows[i : i + 7]).batch()) for i in range(0, len(rows), 7)]
    out.append(processor.flush(T0 + 7 * HOUR))
    hours = health_rows(out)
    silent = [h for h in range(7) if hours[0, h]["silent"]]
    assert silent == [2, 3, 4, 5]  # last uplink 01:50: silent from 02:50 (1 h) to 05:00
    assert [hours[0, h]["uplinks"] for h in range(7)] == [6, 6, 0, 0, 0, 6, 6]
    assert hours[0, 5]["missed"] == 38  # counters 12..49
    assert not any(hours[1, h]["silent"] for h in range(7))
    assert alerts(out) == [("silent", 0, 2)]


def test_silence_uses_a_multiple_of_the_devices_own_interval() -> None:
    config = HealthConfig(silent_after=3.5, silent_min_s=0)
    rows = [r for r in every(5, 3) if not 60 * MIN <= r[1] - T0 < 75 * MIN]  # 3 lost: 20 min
    processor = HealthProcessor(config)
    out = [processor.process(links(rows).batch()), processor.flush(T0 + 3 * HOUR)]
    assert [health_rows(out)[0, h]["silent"] for h in range(3)] == [False, True, False]


def test_the_interval_is_learnt_despite_lost_frames() -> None:
    hours = [0, 2, 4, 5, 6, 10, 11, 12]  # hourly, two frames lost early, then 4 h of silence
    rows = [(0, T0 + h * HOUR + MIN, 10 + h) for h in hours] + every(10, 12, device=1)
    processor = HealthProcessor()
    out = [processor.process(links(sorted(rows, key=lambda r: r[1])).batch())]
    out.append(processor.flush(T0 + 12 * HOUR))
    silent = [h for h in range(12) if health_rows(out)[0, h]["silent"]]
    assert silent == [9, 10]  # 3.5 intervals after 06:01 until 10:01; the 2 h gaps stay quiet


def test_battery_alerts_once_per_episode() -> None:
    volts = [3.25, 3.15, 3.25, 3.1, 3.35, 3.15, 3.15]  # low at hour 1, back at 4, low at 5
    processor = HealthProcessor()
    out = [
        processor.process(links(every(10, 1, first=6 * h), battery=v).batch())
        if h == 0
        else processor.process(
            links([(0, t + h * HOUR, f + 6 * h) for _, t, f in every(10, 1)], battery=v).batch()
        )
        for h, v in enumerate(volts)
    ]
    out.append(processor.flush(T0 + 7 * HOUR))
    assert [(k, h) for k, _, h in alerts(out)] == [("battery_low", 1), ("battery_low", 5)]


def test_sensor_fault_alerts_once_per_episode() -> None:
    processor = HealthProcessor()
    fails = [0, 1, 1, 0, 1]  # FAIL values per uplink, per hour
    out = [
        processor.process(
            links([(0, t + h * HOUR, f + 6 * h) for _, t, f in every(10, 1)], fail=n).batch()
        )
        for h, n in enumerate(fails)
    ]
    out.append(processor.flush(T0 + 5 * HOUR))
    assert [h for k, _, h in alerts(out) if k == "sensor_fault"] == [1, 4]
    assert health_rows(out)[0, 1]["qc_fail"] == 6


def test_uplinks_for_emitted_hours_leave_as_late() -> None:
    processor = HealthProcessor()
    processor.process(links(every(10, 3)).batch())
    out = processor.process(links([(0, T0 + 5 * MIN, 99)]).batch())
    assert out.late_count == 1
    assert health_rows([out]) == {}


def test_snapshot_continues_the_same() -> None:
    rows = [*every(10, 2), *[(0, t + 4 * HOUR, f + 40) for _, t, f in every(10, 2)]]
    whole = HealthProcessor()
    expected = [whole.process(links(rows).batch()), whole.flush(T0 + 6 * HOUR)]
    first = HealthProcessor()
    got = [first.process(links(rows[:10]).batch())]
    second = HealthProcessor()
    second.restore(first.snapshot())
    got += [second.process(links(rows[10:]).batch()), second.flush(T0 + 6 * HOUR)]
    assert health_rows(got) == health_rows(expected)
    assert alerts(got) == alerts(expected) == [("silent", 0, 2)]


def test_nothing_is_invented_past_the_newest_event() -> None:
    processor = HealthProcessor()
    out = [processor.process(links(every(10, 1)).batch()), processor.flush(END)]
    assert sorted(health_rows(out)) == [(0, 0)]


@pytest.mark.parametrize(
    "config",
    [
        HealthConfig(battery_low_v=3.4, battery_ok_v=3.3),
        HealthConfig(fault_on=0.1, fault_off=0.5),
        HealthConfig(silent_after=0),
    ],
)
def test_inconsistent_settings_are_config_errors(config: HealthConfig) -> None:
    with pytest.raises(ConfigError):
        HealthProcessor(config)


def _reference(uplinks: list[tuple[int, int]]) -> tuple[Counter[int], Counter[int]]:
    """Uplinks and missed frames per hour of one device, uplinks in time order (spec §5.1)."""
    counted: Counter[int] = Counter()
    missed: Counter[int] = Counter()
    last = -1
    for time_ns, f_cnt in uplinks:
        hour = (time_ns - T0) // HOUR
        delta = f_cnt - last
        if (
            last >= 0
            and f_cnt >= 0
            and last < 65536
            and 1 <= f_cnt + 65536 - last <= 16384
            and f_cnt < last
        ):
            delta = f_cnt + 65536 - last
        if last >= 0 and f_cnt >= 0 and delta == 0:
            continue
        counted[hour] += 1
        if last >= 0 and f_cnt >= 0 and 1 <= delta <= 16384:
            missed[hour] += delta - 1
        if f_cnt >= 0:
            last = f_cnt
    return counted, missed


@st.composite
def _counters(draw: st.DrawFn) -> list[tuple[int, int]]:
    """One device's uplinks: rising times, counters that step, repeat, reset and roll over."""
    f_cnt = draw(st.sampled_from([0, 65530, 200]))
    time_ns, rows = T0, []
    for step in draw(
        st.lists(st.sampled_from(["next", "next", "gap", "repeat", "reset", "none"]), max_size=60)
    ):
        time_ns += draw(st.integers(1, 40)) * MIN
        if step == "gap":
            f_cnt += draw(st.integers(2, 5))
        elif step == "reset":
            f_cnt = 0
        elif step == "next":
            f_cnt += 1
        f_cnt %= 65536
        rows.append((time_ns, -1 if step == "none" else f_cnt))
    return rows


@settings(max_examples=150, deadline=None)
@given(uplinks=_counters(), cuts=st.lists(st.integers(0, 60), max_size=5), seed=st.integers(0, 99))
def test_counts_equal_the_reference(
    uplinks: list[tuple[int, int]], cuts: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    processor = HealthProcessor(HealthConfig(lateness_s=48 * 3600))
    out = []
    bounds = sorted({0, len(uplinks), *(c for c in cuts if c < len(uplinks))})
    for a, b in itertools.pairwise(bounds):
        batch = [(0, t, f) for t, f in uplinks[a:b]]
        out.append(
            processor.process(links([batch[i] for i in rng.permutation(len(batch))]).batch())
        )
    out.append(processor.flush(END))
    hours = health_rows(out)
    counted, missed = _reference(uplinks)
    assert {h: r["uplinks"] for (_, h), r in hours.items() if r["uplinks"]} == dict(counted)
    assert {h: r["missed"] for (_, h), r in hours.items() if r["missed"]} == {
        h: n for h, n in missed.items() if n
    }
    assert all(r["rssi_mean"] == -100.0 for r in hours.values() if r["uplinks"])


def test_points_are_the_contract_measurement() -> None:
    processor = HealthProcessor()
    out = [processor.process(links(every(10, 1)).batch()), processor.flush(T0 + HOUR)]
    block: Points = next(p for o in out for p in o.points if p.measurement == "device_health")
    assert set(block.fields) == {
        "uplinks",
        "missed",
        "rssi_mean",
        "battery_v",
        "silent",
        "qc_suspect",
        "qc_fail",
    }
    assert block.fields["silent"].dtype == np.bool_
    assert block.fields["uplinks"].dtype.kind == "i"
