"""QARTOD quality flags: hand-made series with known answers, and streamed = plain reference."""

from __future__ import annotations

import io
import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import ConfigError
from ingest.model import Kind
from processors.base import ABSENT_INT, FAIL, MISSING
from processors.qctests import (
    NOT_EVALUATED,
    PASS,
    SUSPECT,
    CrossQc,
    FieldQc,
    QualityConfig,
    SpikeMethod,
    combine,
    count_flags,
)
from processors.quality import QualityChecker

T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00Z
MIN = 60 * 10**9
NAN = math.nan
WORKED = [12.1, 12.3, 19.8, 12.4, 12.2]  # domain notes §4.3, PM2.5 10-min means


def _checker(spec: FieldQc, **config: object) -> QualityChecker:
    return QualityChecker(QualityConfig(fields={Kind.AIR: {"pm25": spec}}, **config))  # type: ignore[arg-type]


def stream(
    checker: QualityChecker,
    batches: Sequence[Sequence[tuple[int, int, float]]],
    name: str = "pm25",
    kind: Kind = Kind.AIR,
    written: dict[tuple[int, int], int] | None = None,
) -> dict[tuple[int, int], int]:
    """Feed (device, time, value) batches; the flags as finally written (revisions applied)."""
    written = {} if written is None else written
    for batch in batches:
        device = np.array([b[0] for b in batch], dtype=np.int32)
        time_ns = np.array([b[1] for b in batch], dtype=np.int64)
        values = {name: np.array([b[2] for b in batch], dtype=np.float64)}
        result = checker.check(kind, device, time_ns, values, {})
        written.update(
            zip(
                zip(device.tolist(), time_ns.tolist(), strict=True),
                result.flags[name].tolist(),
                strict=True,
            )
        )
        revised = result.revised
        assert revised.measurement == kind.value
        column = revised.fields.get(f"{name}_qc", np.zeros(0, np.int64))
        for d, t, f in zip(revised.device, revised.time_ns, column, strict=True):
            if f != ABSENT_INT:
                assert (int(d), int(t)) in written
                written[int(d), int(t)] = int(f)
    return written


def _series(
    values: Sequence[float], step: int = 10 * MIN, device: int = 0
) -> list[tuple[int, int, float]]:
    return [(device, T0 + i * step, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("method", "expected"),
    [(SpikeMethod.MEAN, [1, 3, 4, 3, 1]), (SpikeMethod.PEAK, [1, 1, 4, 1, 1])],
)
def test_worked_example_spike_and_gross_range(method: SpikeMethod, expected: list[int]) -> None:
    # suspect 3 / fail 6; gross range fail 0-1000, suspect 0-300 (domain notes §4.3). The mean
    # method is ioos_qc's and flags the spike's neighbours too; peak flags the spike alone.
    spec = FieldQc((0, 300), (0, 1000), (3, 6))
    rows = _series(WORKED)
    at_once = stream(_checker(spec, spike_method=method), [rows])
    one_by_one = stream(_checker(spec, spike_method=method), [[r] for r in rows])
    assert list(at_once.values()) == expected
    assert list(one_by_one.values()) == expected


def test_newest_reading_waits_for_its_successor() -> None:
    checker = _checker(FieldQc(None, None, (3, 6)))
    first = checker.check(
        Kind.AIR,
        np.zeros(3, np.int32),
        np.array([T0, T0 + MIN, T0 + 2 * MIN]),
        {"pm25": np.array([10.0, 10.0, 30.0])},
        {},
    )
    assert first.flags["pm25"].tolist() == [PASS, PASS, PASS]  # the 30 is not judged yet
    second = checker.check(
        Kind.AIR, np.zeros(1, np.int32), np.array([T0 + 3 * MIN]), {"pm25": np.array([10.0])}, {}
    )
    assert second.flags["pm25"].tolist() == [PASS]
    assert second.revised.time_ns.tolist() == [T0 + 2 * MIN]
    assert second.revised.fields["pm25_qc"].tolist() == [FAIL]


def test_gross_range_spans_and_missing_values() -> None:
    written = stream(
        _checker(FieldQc((0, 300), (0, 1000))), [_series([-1.0, 0.0, 300.0, 300.5, 1000.5, NAN])]
    )
    assert list(written.values()) == [FAIL, PASS, PASS, SUSPECT, FAIL, MISSING]


def test_incoming_flags_are_kept_by_precedence() -> None:
    checker = _checker(FieldQc((0, 300)))
    qc = {"pm25": np.array([FAIL, PASS, MISSING], dtype=np.uint8)}
    values = {"pm25": np.array([5.0, 400.0, NAN])}
    result = checker.check(Kind.AIR, np.zeros(3, np.int32), T0 + np.arange(3) * MIN, values, qc)
    assert result.flags["pm25"].tolist() == [FAIL, SUSPECT, MISSING]


def test_combine_follows_qartod_compare_order() -> None:
    # ioos_qc qartod_compare: MISSING < NOT_EVALUATED < PASS < SUSPECT < FAIL
    a = np.array([MISSING, MISSING, NOT_EVALUATED, PASS, SUSPECT, FAIL], dtype=np.uint8)
    b = np.array([MISSING, NOT_EVALUATED, PASS, SUSPECT, FAIL, PASS], dtype=np.uint8)
    assert combine(a, b).tolist() == [MISSING, NOT_EVALUATED, PASS, SUSPECT, FAIL, FAIL]
    assert combine(b, a).tolist() == combine(a, b).tolist()


def test_rate_of_change_flags_fast_changes_only() -> None:
    spec = FieldQc(rate_of_change=0.01)  # units per second: 6 per 10 minutes
    written = stream(_checker(spec), [_series([10.0, 15.0, 22.0, 22.5, 10.0])])
    assert list(written.values()) == [PASS, PASS, SUSPECT, PASS, SUSPECT]


def test_flat_line_flags_a_stuck_run_from_its_first_reading() -> None:
    # 10-min readings: suspect after 1 h (6 intervals, window of 7), fail after 2 h (13 readings)
    spec = FieldQc(flat_line=(3600.0, 7200.0, 0.05))
    values = [10.0, 11.0, *[12.0] * 14, 13.0]
    written = stream(_checker(spec), [[r] for r in _series(values)])
    flags = list(written.values())
    assert flags[:2] == [PASS, PASS]
    assert flags[2:14] == [SUSPECT] * 12  # the first six were revised when the seventh came
    assert flags[14:16] == [FAIL, FAIL]  # 13th and 14th equal readings: two hours flat
    assert flags[16] == PASS


def test_flat_line_needs_three_readings_and_respects_the_tolerance() -> None:
    spec = FieldQc(flat_line=(60.0, 7200.0, 0.05))  # one interval: the window is raised to 3
    wobbly = stream(_checker(spec), [_series([10.0, 10.04, 10.08, 10.12])])
    assert list(wobbly.values()) == [PASS] * 4  # each step within tolerance, the spread not
    flat = stream(_checker(spec), [_series([10.0, 10.0, 10.04])])
    assert list(flat.values()) == [SUSPECT] * 3


def test_flat_line_revisions_reach_back_only_as_far_as_the_history() -> None:
    spec = FieldQc(flat_line=(3600.0, 86400.0, 0.05))
    written = stream(_checker(spec, history=4), [[r] for r in _series([9.0, *[12.0] * 8])])
    assert list(written.values()) == [PASS, PASS, PASS, PASS, *[SUSPECT] * 5]


def test_climatology_uses_the_utc_month() -> None:
    monthly = tuple((0.0, 10.0) if m == 0 else (20.0, 30.0) for m in range(12))
    spec = FieldQc(climatology=monthly)
    january, february = T0, T0 + 31 * 24 * 60 * MIN
    rows = [
        (0, january, 5.0),
        (0, january + MIN, 25.0),
        (0, february, 25.0),
        (0, february + MIN, 5.0),
    ]
    assert list(stream(_checker(spec), [rows]).values()) == [PASS, SUSPECT, PASS, SUSPECT]


def test_air_cross_field_tests() -> None:
    checker = QualityChecker(
        QualityConfig(fields={}, cross=CrossQc(pm_inversion=(1.0, 10.0), fog_humidity=95.0))
    )
    values = {
        "pm25": np.array([10.0, 12.0, 25.0, 10.0]),
        "pm10": np.array([15.0, 10.5, 12.0, 15.0]),
        "humidity": np.array([80.0, 80.0, 80.0, 97.0]),
    }
    result = checker.check(Kind.AIR, np.arange(4, dtype=np.int32), np.full(4, T0), values, {})
    assert result.flags["pm25"].tolist() == [PASS, SUSPECT, FAIL, SUSPECT]
    assert result.flags["pm10"].tolist() == result.flags["pm25"].tolist()
    assert result.flags["humidity"].tolist() == [PASS] * 4


def test_bin_cross_field_tests_and_fill_follows_distance() -> None:
    checker = QualityChecker(QualityConfig(fields={}), empty_mm=np.array([1100.0, 1500.0]))
    values = {
        "distance_mm": np.array([1100.0, 1160.0, 1160.0, 250.0, 800.0, 900.0]),
        "fill_pct": np.array([0.0, 0.0, 0.0, 100.0, 37.5, NAN]),
        "tilt": np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
    }
    device = np.array([0, 0, 1, 0, 0, 2], dtype=np.int32)  # device 2: no empty distance known
    result = checker.check(Kind.WASTE, device, np.full(6, T0), values, {})
    assert result.flags["distance_mm"].tolist() == [PASS, SUSPECT, PASS, FAIL, SUSPECT, PASS]
    assert result.flags["fill_pct"].tolist() == [PASS, SUSPECT, PASS, FAIL, SUSPECT, PASS]


def test_a_replayed_reading_gets_point_tests_only() -> None:
    checker = _checker(FieldQc((0, 300), None, (3, 6)))
    written = stream(checker, [_series([10.0, 10.5, 11.0])])
    stream(checker, [[(0, T0, 400.0), (0, T0 + 30 * MIN, 40.0)]], written=written)
    assert written[0, T0] == SUSPECT  # the replay: gross range only, and out of the history
    stream(checker, [[(0, T0 + 40 * MIN, 11.2)]], written=written)
    assert written[0, T0 + 30 * MIN] == FAIL  # 40 judged between 11.0 and 11.2, not 400


def test_devices_and_kinds_keep_separate_histories() -> None:
    spec = FieldQc(None, None, (3, 6))
    config = QualityConfig(
        fields={Kind.AIR: {"temperature": spec}, Kind.WASTE: {"temperature": spec}}
    )
    checker = QualityChecker(config)
    rows = [*_series([10.0, 10.0, 10.0], device=0), *_series([20.0, 30.0, 20.0], device=1)]
    air = stream(checker, [rows[::-1]], "temperature")
    assert [air[0, T0 + 10 * MIN], air[1, T0 + 10 * MIN]] == [PASS, FAIL]
    waste = stream(checker, [_series([0.0, 10.0], device=0)], "temperature", Kind.WASTE)
    assert set(waste.values()) == {PASS}  # not judged against the air sensor's 10.0


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda data: data, id="current"),
        # the layout before rows were kept per reporting device: a row per code, full rings
        pytest.param(lambda data: _dense(data, history=64), id="row-per-code"),
    ],
)
def test_snapshot_restores_the_history(layout: Callable[[bytes], bytes]) -> None:
    spec = FieldQc(None, None, (3, 6), None, (3600.0, 7200.0, 0.05))
    rows = _series([5.0, 9.0, *[12.0] * 8, 30.0, 12.0])
    whole = stream(_checker(spec), [[r] for r in rows])
    first = _checker(spec)
    written = stream(first, [[r] for r in rows[:5]])
    second = _checker(spec)
    second.restore(layout(first.snapshot()))
    stream(second, [[r] for r in rows[5:]], written=written)
    assert written == whole
    assert SUSPECT in whole.values()  # the flat run was revised across the restore


def test_snapshot_of_another_history_is_refused() -> None:
    data = _checker(FieldQc(spike=(3, 6))).snapshot()
    with pytest.raises(ConfigError, match="history"):
        _checker(FieldQc(spike=(3, 6)), history=8).restore(data)


def test_state_is_kept_only_for_devices_that_reported() -> None:
    checker = _checker(FieldQc(spike=(3, 6)))
    stream(checker, [[(0, T0, 10.0), (99_999, T0, 11.0)]])
    assert len(checker.snapshot()) < 20_000  # rows for two devices, not for 100,000 codes


def _dense(snapshot: bytes, history: int) -> bytes:
    """``snapshot`` of device code 0 only, rewritten in the row-per-code, full-ring layout."""
    with np.load(io.BytesIO(snapshot)) as archive:
        arrays = {k: archive[k] for k in archive.files if not k.endswith(":code")}
    never = np.iinfo(np.int64).min
    for key, array in arrays.items():
        if key.endswith((":ring_t", ":ring_flag")):
            fill = never if key.endswith("ring_t") else 0
            pad = ((0, 0), (history - array.shape[1], 0))
            arrays[key] = np.pad(array, pad, constant_values=fill)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (FieldQc((0, 2000)), "suspect_span"),
        (FieldQc(spike=(6, 3)), "spike"),
        (FieldQc(climatology=((0, 1),)), "climatology"),
        (FieldQc(flat_line=(7200, 3600, 0.1)), "flat_line"),
    ],
)
def test_unusable_thresholds_are_config_errors(spec: FieldQc, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _checker(spec)


def test_unknown_fields_and_tiny_histories_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not a field"):
        QualityChecker(QualityConfig(fields={Kind.NOISE: {"pm25": FieldQc()}}))
    with pytest.raises(ConfigError, match="history"):
        QualityChecker(QualityConfig(history=2))


def test_count_flags_per_reading() -> None:
    flags = {"a": np.array([1, 3, 4], np.uint8), "b": np.array([3, 3, 9], np.uint8)}
    suspect, fail = count_flags(flags, 3)
    assert suspect.tolist() == [1, 2, 0]
    assert fail.tolist() == [0, 0, 1]


def test_defaults_flag_the_domain_notes_cases() -> None:
    checker = QualityChecker()
    values = {
        "pm25": np.array([12.0, 350.0]),
        "pm10": np.array([20.0, 400.0]),
        "temperature": np.array([20.0, 50.0]),
    }
    result = checker.check(Kind.AIR, np.arange(2, dtype=np.int32), np.full(2, T0), values, {})
    assert result.flags["pm25"].tolist() == [PASS, SUSPECT]  # operator span 0-300 µg/m³
    assert result.flags["temperature"].tolist() == [PASS, SUSPECT]  # operator span -25-45 °C


# -- streamed flags equal a plain-Python reference over the whole series --------------------
_ORDER = [MISSING, NOT_EVALUATED, PASS, SUSPECT, FAIL]


def _best(*flags: int) -> int:
    return max(flags, key=_ORDER.index)


@dataclass
class _Reference:
    """One device's series in time order, flagged the way ``processors.quality`` documents."""

    spec: FieldQc
    method: SpikeMethod
    history: int

    def flags(self, times: list[int], values: list[float]) -> list[int]:
        out = [MISSING] * len(values)
        kept = [i for i, v in enumerate(values) if not math.isnan(v)]
        ts, xs = [times[i] for i in kept], [values[i] for i in kept]
        seq = [self._point(t, x) for t, x in zip(ts, xs, strict=True)]
        for n in range(len(xs)):
            seq[n] = _best(seq[n], self._rate(ts, xs, n), self._spike(xs, n))
        for n, flag in enumerate(self._flat(ts, xs)):
            seq[n] = _best(seq[n], flag)
        for i, flag in zip(kept, seq, strict=True):
            out[i] = flag
        return out

    def _point(self, t: int, x: float) -> int:
        spec, flag = self.spec, PASS
        low, high = spec.suspect_span or (-math.inf, math.inf)
        if not low <= x <= high:
            flag = SUSPECT
        low, high = spec.fail_span or (0.0, 1000.0)
        if not low <= x <= high:
            flag = FAIL
        if spec.climatology is not None:
            month = int(np.datetime64(t, "ns").astype("datetime64[M]").astype(int)) % 12
            low, high = spec.climatology[month]
            flag = _best(flag, PASS if low <= x <= high else SUSPECT)
        return flag

    def _rate(self, ts: list[int], xs: list[float], n: int) -> int:
        limit = self.spec.rate_of_change
        if limit is None or n == 0:
            return PASS
        return SUSPECT if abs(xs[n] - xs[n - 1]) / ((ts[n] - ts[n - 1]) / 1e9) > limit else PASS

    def _spike(self, xs: list[float], n: int) -> int:
        if self.spec.spike is None:
            return PASS
        if n in {0, len(xs) - 1}:
            return NOT_EVALUATED
        before, x, after = xs[n - 1], xs[n], xs[n + 1]
        if self.method is SpikeMethod.MEAN:
            deviation = abs(x - (before + after) / 2)
        else:
            same_side = (x - before) * (x - after) > 0
            deviation = min(abs(x - before), abs(x - after)) if same_side else 0.0
        suspect, fail = self.spec.spike
        return FAIL if deviation > fail else SUSPECT if deviation > suspect else PASS

    def _flat(self, ts: list[int], xs: list[float]) -> list[int]:
        if self.spec.flat_line is None:
            return [PASS] * len(xs)
        suspect_s, fail_s, tolerance = self.spec.flat_line
        flags, run, revised = [PASS] * len(xs), [], False
        for n, x in enumerate(xs):
            if run and max(*run, x) - min(*run, x) < tolerance:
                run.append(x)
            else:
                run, revised = [x], False
            recent = ts[max(0, n - self.history + 1) : n + 1]
            if len(recent) < 2:
                continue
            interval = statistics.median(b / 1e9 - a / 1e9 for a, b in itertools.pairwise(recent))
            need_suspect = max(math.floor(suspect_s / interval), 2) + 1
            need_fail = max(math.floor(fail_s / interval), 2) + 1
            if len(run) >= need_fail:
                flags[n] = FAIL
            elif len(run) >= need_suspect:
                flags[n] = SUSPECT
            if len(run) >= need_suspect and not revised:
                revised = True
                for m in range(n - min(len(run), self.history) + 1, n):
                    flags[m] = _best(flags[m], SUSPECT)
        return flags


_VALUES = st.sampled_from([10.0, 10.0, 10.0, 10.02, 12.0, 30.0, 80.0, 350.0, -5.0, NAN])
_SPECS = st.builds(
    FieldQc,
    suspect_span=st.sampled_from([None, (0.0, 300.0)]),
    fail_span=st.sampled_from([None, (-10.0, 400.0)]),
    spike=st.sampled_from([None, (3.0, 6.0), (15.0, 60.0)]),
    rate_of_change=st.sampled_from([None, 0.01, 0.5]),
    flat_line=st.sampled_from([None, (1800.0, 3600.0, 0.05), (600.0, 86400.0, 0.5)]),
    climatology=st.sampled_from([None, tuple((0.0, 11.0 + m) for m in range(12))]),
)


@st.composite
def _runs(draw: st.DrawFn) -> tuple[list[tuple[int, int, float]], list[int]]:
    """Readings of up to three devices (rising times per device) and batch boundaries."""
    rows = []
    for device in range(draw(st.integers(1, 3))):
        steps = draw(st.lists(st.integers(1, 20), min_size=1, max_size=40))
        values = draw(st.lists(_VALUES, min_size=len(steps), max_size=len(steps)))
        times = np.cumsum(steps) * 5 * MIN + T0 + draw(st.integers(0, 60 * 24 * 40)) * MIN
        rows += [(device, int(t), v) for t, v in zip(times, values, strict=True)]
    rows.sort(key=lambda r: r[1])
    cuts = draw(st.lists(st.integers(0, len(rows)), max_size=6))
    return rows, sorted(cuts)


@settings(max_examples=150, deadline=None)
@given(
    run=_runs(),
    spec=_SPECS,
    method=st.sampled_from(list(SpikeMethod)),
    history=st.sampled_from([3, 5, 64]),
    shuffle=st.randoms(use_true_random=False),
)
def test_streamed_flags_equal_the_reference(
    run: tuple[list[tuple[int, int, float]], list[int]],
    spec: FieldQc,
    method: SpikeMethod,
    history: int,
    shuffle: object,
) -> None:
    rows, cuts = run
    batches = [
        list(rows[a:b]) for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True) if b > a
    ]
    for batch in batches:
        shuffle.shuffle(batch)  # type: ignore[attr-defined]
    checker = _checker(spec, spike_method=method, history=history)
    written = stream(checker, batches)
    reference = _Reference(replace(spec), method, history)
    for device in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == device]
        expected = reference.flags([r[1] for r in mine], [r[2] for r in mine])
        assert [written[device, r[1]] for r in mine] == expected
