"""Device health: frame-counter gaps, silent hours, alerts with hysteresis, and a reference."""

from __future__ import annotations

import io
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import ConfigError
from processors.base import Batch, Outputs, Points
from processors.health import HealthConfig, HealthProcessor, LinkBatch, count_missed

HOUR = 3_600 * 10**9
MIN = 60 * 10**9
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00Z, an hour start
END = T0 + 1000 * HOUR


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


def test_out_of_order_uplinks_count_as_in_time_order() -> None:
    processor = HealthProcessor()
    first = [(0, T0 + i * 10 * MIN, 500 + i) for i in (0, 1, 3)]  # frame 502 not yet there
    behind = [(0, T0 + 25 * MIN, 502)]  # older than the newest, within the lateness
    rejoined = [(0, T0 + (4 + i) * 10 * MIN, i) for i in range(2)]  # counter back to 0
    repeat = [(0, T0 + 31 * MIN, 503)]  # after 503 by time: a retransmission
    out = [processor.process(links(b).batch()) for b in (first, behind, rejoined, repeat)]
    out.append(processor.flush(T0 + HOUR))
    row = health_rows(out)[0, 0]
    assert row["battery_v"] == pytest.approx(3.6)
    assert {**row, "battery_v": 0} == {
        "uplinks": 6,
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


def _silent_reference(
    uplinks: list[tuple[int, int]], config: HealthConfig, newest: int
) -> list[int]:
    """Silent hours of one device, uplinks in time order and ``newest`` the newest event time.

    Definition: an hour is silent when at some instant of it (up to ``newest``) the time since
    the device's last uplink before that instant exceeds the threshold set at that uplink:
    ``silent_after`` times the lower quartile of the last 8 gaps up to it (once it has 4, else
    ``default_interval_s``), at least ``silent_min_s``. Repeats are not uplinks here.
    """
    sent: list[tuple[int, int]] = []  # (time, threshold in ns)
    gaps: list[int] = []
    last_f = -1
    for time_ns, f_cnt in uplinks:
        if f_cnt >= 0 and f_cnt == last_f:
            continue
        last_f = f_cnt if f_cnt >= 0 else last_f
        gaps += [time_ns - sent[-1][0]] if sent else []
        recent = sorted(gaps[-8:])
        quartile = recent[(len(recent) - 1) // 4] / 1e9 if len(recent) >= 4 else None
        interval = config.default_interval_s if quartile is None else quartile
        seconds = config.silent_after * interval
        sent.append((time_ns, round(max(seconds, config.silent_min_s) * 1e9)))
    ends = [t for t, _ in sent[1:]] + [newest]
    silent = []
    for hour in range((sent[0][0] - T0) // HOUR, (newest - T0) // HOUR + 1) if sent else ():
        begin = T0 + hour * HOUR
        for (time_ns, threshold), until in zip(sent, ends, strict=True):
            since = time_ns + threshold  # silent instants: (since, until]
            if since < min(until, newest) and since < begin + HOUR and until >= begin:
                silent.append(hour)
                break
    return silent


@st.composite
def _counters(draw: st.DrawFn) -> list[tuple[int, int]]:
    """One device's uplinks: rising times with quiet spells, counters that step, repeat, reset
    and roll over."""
    f_cnt = draw(st.sampled_from([0, 65530, 200]))
    time_ns, rows = T0, []
    for step in draw(
        st.lists(
            st.sampled_from(["next", "next", "next", "gap", "repeat", "reset", "none", "quiet"]),
            max_size=60,
        )
    ):
        time_ns += draw(st.integers(1, 300 if step == "quiet" else 40)) * MIN
        if step == "gap":
            f_cnt += draw(st.integers(2, 5))
        elif step == "reset":
            f_cnt = 0
        elif step in {"next", "quiet"}:
            f_cnt += 1
        f_cnt %= 65536
        rows.append((time_ns, -1 if step == "none" else f_cnt))
    return rows


_SILENCE = st.builds(
    HealthConfig,
    lateness_s=st.sampled_from([0.0, 600.0, 48 * 3600.0]),
    silent_after=st.sampled_from([2.5, 3.5]),
    silent_min_s=st.sampled_from([0.0, 1800.0, 3600.0]),
    default_interval_s=st.sampled_from([600.0, 3600.0]),
)


@settings(max_examples=200, deadline=None)
@given(
    uplinks=_counters(),
    cuts=st.lists(st.integers(0, 60), max_size=5),
    seed=st.integers(0, 99),
    config=_SILENCE,
)
def test_counts_and_silence_equal_the_reference(
    uplinks: list[tuple[int, int]], cuts: list[int], seed: int, config: HealthConfig
) -> None:
    rng = np.random.default_rng(seed)
    processor = HealthProcessor(config)
    out = []
    bounds = sorted({0, len(uplinks), *(c for c in cuts if c < len(uplinks))})
    for a, b in itertools.pairwise(bounds):
        batch = [(0, t, f) for t, f in uplinks[a:b]]
        out.append(
            processor.process(links([batch[i] for i in rng.permutation(len(batch))]).batch())
        )
    out.append(processor.flush(END))
    hours = health_rows(out)
    assert sum(o.late_count for o in out) == 0  # batches in time order: nothing is late
    counted, missed = _reference(uplinks)
    assert {h: r["uplinks"] for (_, h), r in hours.items() if r["uplinks"]} == dict(counted)
    assert {h: r["missed"] for (_, h), r in hours.items() if r["missed"]} == {
        h: n for h, n in missed.items() if n
    }
    assert all(r["rssi_mean"] == -100.0 for r in hours.values() if r["uplinks"])
    silent = _silent_reference(uplinks, config, max((t for t, _ in uplinks), default=T0))
    assert [h for (_, h), r in sorted(hours.items()) if r["silent"]] == silent
    starts = [h for h in silent if h - 1 not in silent]
    assert [h for k, _, h in alerts(out) if k == "silent"] == starts


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


Row = tuple[int, int, int, float, float, int]  # device, time, f_cnt, rssi, battery_v, qc_fail


def rows_batch(rows: Sequence[Row]) -> Batch:
    """Rows as the processor's batch, QC suspect counts = fail counts + 1."""
    fail = np.array([r[5] for r in rows], dtype=np.int64)
    return LinkBatch(
        np.array([r[0] for r in rows], dtype=np.int32),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[4] for r in rows], dtype=np.float64),
        fail + 1,
        fail,
    ).batch()


def written(outputs: Sequence[Outputs]) -> dict[tuple[str, str, int, int], tuple[object, ...]]:
    """Every point by (measurement, alert type, device, time): its fields, each once."""
    found: dict[tuple[str, str, int, int], tuple[object, ...]] = {}
    for out in outputs:
        for block in out.points:
            kinds = block.tags["type"] if block.tags else np.full(len(block), "")
            for i in range(len(block)):
                key = (
                    block.measurement,
                    str(kinds[i]),
                    int(block.device[i]),
                    int(block.time_ns[i]),
                )
                assert key not in found
                found[key] = tuple(_plain(v[i].item()) for v in block.fields.values())
    return found


def split(rows: Sequence[Row], cuts: Iterable[int]) -> list[Sequence[Row]]:
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    return [rows[a:b] for a, b in itertools.pairwise(bounds)]


def stream(processor: HealthProcessor, batches: Iterable[Sequence[Row]]) -> list[Outputs]:
    return [*(processor.process(rows_batch(b)) for b in batches), processor.flush(END)]


@st.composite
def _streams(draw: st.DrawFn) -> list[Row]:
    """A few devices' uplinks in time order (ties too): steady spells, quiet spells, lost,
    repeated and reset counters, falling batteries and failing sensors."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rows: list[Row] = []
    for device in draw(st.sets(st.integers(0, 9), min_size=1, max_size=3)):
        time_ns, f_cnt = T0 + draw(st.integers(0, 180)) * MIN, draw(st.sampled_from([0, 65534]))
        volts, fail = 3.6, 0
        steps = ["next"] * 4 + ["gap", "repeat", "reset", "none", "quiet", "battery", "fault"]
        for step in draw(st.lists(st.sampled_from(steps), max_size=40)):
            time_ns += int(rng.integers(0, 300 if step == "quiet" else 20)) * MIN
            time_ns += int(rng.integers(0, 60)) * 10**9
            f_cnt += {"next": 1, "quiet": 1, "gap": 3, "repeat": 0}.get(step, 0)
            f_cnt = 0 if step == "reset" else f_cnt % 65536
            volts = float(rng.choice([3.1, 3.25, 3.35, 3.6])) if step == "battery" else volts
            fail = int(rng.integers(0, 3)) if step == "fault" else fail
            rssi = float(rng.normal(-100, 8))
            rows.append((device, time_ns, -1 if step == "none" else f_cnt, rssi, volts, fail))
    return sorted(rows, key=lambda r: r[1])


_CONFIGS = st.builds(
    HealthConfig,
    lateness_s=st.sampled_from([0.0, 600.0, 5400.0]),
    silent_min_s=st.sampled_from([0.0, 1800.0, 3600.0]),
    default_interval_s=st.sampled_from([600.0, 3600.0]),
)


@settings(max_examples=150, deadline=None)
@given(rows=_streams(), cuts=st.lists(st.integers(0, 120), max_size=8), config=_CONFIGS)
def test_any_split_of_a_stream_gives_what_one_batch_gives(
    rows: list[Row], cuts: list[int], config: HealthConfig
) -> None:
    whole = written(stream(HealthProcessor(config), [rows]))
    assert written(stream(HealthProcessor(config), split(rows, cuts))) == whole
    assert written(stream(HealthProcessor(config), split(rows, range(len(rows))))) == whole


@settings(max_examples=150, deadline=None)
@given(rows=_streams(), cuts=st.lists(st.integers(0, 120), max_size=8), seed=st.integers(0, 99))
def test_uplinks_behind_within_the_lateness_give_the_in_order_result(
    rows: list[Row], cuts: list[int], seed: int
) -> None:
    config = HealthConfig(lateness_s=5400.0, silent_min_s=0.0, default_interval_s=600.0)
    # each uplink arrives up to the lateness after its time: none comes after its hour is out
    delay = np.random.default_rng(seed).integers(0, round(config.lateness_s * 1e9), len(rows))
    arrival = np.argsort([r[1] for r in rows] + delay, kind="stable")
    out = stream(HealthProcessor(config), split([rows[i] for i in arrival], cuts))
    assert sum(o.late_count for o in out) == 0
    assert written(out) == written(stream(HealthProcessor(config), [rows]))


@settings(max_examples=100, deadline=None)
@given(rows=_streams(), cuts=st.lists(st.integers(0, 120), max_size=8), config=_CONFIGS)
def test_snapshot_and_restore_mid_stream_continue_the_same(
    rows: list[Row], cuts: list[int], config: HealthConfig
) -> None:
    processor, out = HealthProcessor(config), []
    for batch in split(rows, cuts):
        out.append(processor.process(rows_batch(batch)))
        restored = HealthProcessor(config)
        restored.restore(processor.snapshot())
        processor = restored
    out.append(processor.flush(END))
    assert written(out) == written(stream(HealthProcessor(config), [rows]))


def test_an_uplink_for_an_emitted_hour_is_late_and_changes_nothing() -> None:
    rows = [(d, t, f, -100.0, 3.6, 0) for d, t, f in every(10, 4)]
    behind = [(0, T0 + 5 * MIN, 3, -50.0, 3.0, 9), (1, T0 + 7 * MIN, 0, -50.0, 3.0, 9)]
    processor = HealthProcessor()
    out = [processor.process(rows_batch(rows[:14])), processor.process(rows_batch(behind))]
    out += stream(processor, [rows[14:]])
    assert out[1].late_count == 2  # hours 0 and 1 were out once 02:10 arrived
    assert out[1].late.device.tolist() == [0, 1]
    assert out[1].points == []
    assert written(out) == written(stream(HealthProcessor(), [rows]))


def test_a_snapshot_of_another_layout_is_a_config_error() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, clock=np.array([0, 0], dtype=np.int64))
    with pytest.raises(ConfigError):
        HealthProcessor().restore(buffer.getvalue())
