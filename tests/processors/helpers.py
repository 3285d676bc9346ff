"""Shared test helpers: readings <-> batches, collecting emitted points, hypothesis strategies."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
from hypothesis import strategies as st

from processors.base import ABSENT_INT, FAIL, Batch, Outputs, Points, Processor
from tests.processors.reference import Key, Reading

HOUR = 3_600 * 10**9
MINUTE = 60 * 10**9
# The 2026 DST changes in Europe/Amsterdam, both at 01:00 UTC.
SPRING = int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()) * 10**9
AUTUMN = int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp()) * 10**9
END = 2**62


def to_batch(
    readings: Sequence[Reading], names: Sequence[str], failed: Sequence[Reading] = ()
) -> Batch:
    """Readings as a batch, plus a FAIL-flagged copy (value 999 in every field) of ``failed``."""
    values = {
        n: np.array([r.values.get(n, math.nan) for r in readings] + [999.0] * len(failed))
        for n in names
    }
    qc = {
        n: np.r_[np.ones(len(readings)), np.full(len(failed), FAIL)].astype(np.uint8) for n in names
    }
    readings = [*readings, *failed]
    return Batch(
        np.array([r.device for r in readings], dtype=np.int32),
        np.array([r.time_ns for r in readings], dtype=np.int64),
        values,
        qc,
    )


def absent(value: object) -> bool:
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, int | np.integer):
        return value == ABSENT_INT
    return value == ""


def collect(outputs: Iterable[Outputs]) -> dict[Key, dict[str, object]]:
    """The last value of every point written, absent fields dropped (as a writer would)."""
    points: dict[Key, dict[str, object]] = {}
    for out in outputs:
        for p in out.points:
            points.update(_rows(p))
    return points


def _rows(p: Points) -> dict[Key, dict[str, object]]:
    rows: dict[Key, dict[str, object]] = {}
    for i in range(len(p)):
        kind = str(p.tags["type"][i]) if p.tags else ""
        fields = {name: column[i].item() for name, column in p.fields.items()}
        fields = {name: v for name, v in fields.items() if not absent(v)}
        if p.measurement == "alert":
            fields = {"value": fields["value"]}
        if fields:
            rows[p.measurement, int(p.device[i]), int(p.time_ns[i]), kind] = fields
    return rows


def run(processor: Processor, batches: Iterable[Batch]) -> dict[Key, dict[str, object]]:
    outputs = [processor.process(b) for b in batches]
    outputs.append(processor.flush(END))
    return collect(outputs)


def assert_same(got: dict[Key, dict[str, object]], want: dict[Key, dict[str, object]]) -> None:
    assert sorted(got) == sorted(want)
    for key, fields in want.items():
        assert sorted(got[key]) == sorted(fields), key
        for name, value in fields.items():
            if isinstance(value, float):
                assert math.isclose(got[key][name], value, rel_tol=1e-9, abs_tol=1e-9), (key, name)
            else:
                assert got[key][name] == value, (key, name)


def assert_merged(got: dict[Key, dict[str, object]], want: dict[Key, dict[str, object]]) -> None:
    """Same windows; every alert of ``want`` also in ``got`` with its final value.

    A split stream may alert on a partial day that the whole day no longer exceeds: alerts are
    never withdrawn, so ``got`` may hold more of them.
    """
    assert_same({k: v for k, v in got.items() if k[0] != "alert" or k in want}, want)


def readings(
    fields: dict[str, st.SearchStrategy[float]],
    around: int,
    span_ns: int = 36 * HOUR,
    devices: int = 3,
    max_size: int = 40,
) -> st.SearchStrategy[list[Reading]]:
    """Readings of a few devices within ``span_ns`` around an instant, duplicates included."""
    one = st.builds(
        Reading,
        st.integers(0, devices - 1),
        st.integers(around - span_ns // 2, around + span_ns // 2).map(lambda t: t - t % MINUTE),
        st.fixed_dictionaries({}, optional=fields),
    )
    return st.lists(one, max_size=max_size).flatmap(
        lambda rows: (
            st.lists(st.sampled_from(rows), max_size=4).map(lambda dup: rows + dup)
            if rows
            else st.just(rows)
        )
    )


@st.composite
def batches_of(draw: st.DrawFn, rows: list[Reading], names: Sequence[str]) -> list[Batch]:
    """The readings shuffled and cut into batches at random points."""
    order = draw(st.permutations(rows))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=5)))
    bounds = [0, *cuts, len(rows)]
    return [to_batch(order[a:b], names) for a, b in itertools.pairwise(bounds)]


def assert_restores_identically(
    make: Callable[[], Processor], rows: list[Reading], names: Sequence[str], cut: int
) -> None:
    """A processor restored from a snapshot after ``rows[:cut]`` continues as if never stopped."""
    head, tail = to_batch(rows[:cut], names), to_batch(rows[cut:], names)
    straight = make()
    expected = collect([straight.process(head), straight.process(tail), straight.flush(END)])
    first = make()
    before = collect([first.process(head)])
    second = make()
    second.restore(first.snapshot())
    assert_same({**before, **collect([second.process(tail), second.flush(END)])}, expected)
