"""Window kernel: grouping, the event clock and slot reuse."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.partials import group, pack, reduce_rows, stable_order, unpack
from processors.windows import EventClock, WindowStore


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-5, 2**20), st.integers(-3, 2**20)), max_size=60), st.booleans()
)
def test_group_gives_sorted_unique_keys_and_each_rows_index(
    rows: list[tuple[int, int]], spread: bool
) -> None:
    window = np.array([w if spread else w % 7 for w, _ in rows], dtype=np.int64)
    device = np.array([d if spread else d % 5 - 1 for _, d in rows], dtype=np.int32)
    keys, index = group(window, device)
    assert keys.tolist() == sorted(
        {
            (w << 32) | (d & 0xFFFFFFFF)
            for w, d in zip(window.tolist(), device.tolist(), strict=True)
        }
    )
    assert np.array_equal(keys[index], pack(window, device))
    w, d = unpack(keys)
    assert np.array_equal(pack(w, d), keys)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=60), st.booleans())
def test_stable_order_equals_a_stable_argsort(keys: list[int], huge: bool) -> None:
    key = np.array(keys, dtype=np.int64) + (2**61 if huge else 0)  # huge: the fallback
    assert np.array_equal(stable_order(key), np.argsort(key, kind="stable"))


def test_reduce_rows_ignores_nan_and_keeps_min_max() -> None:
    columns = {"x": np.array([1.0, np.nan, 4.0, 2.0]), "y": np.array([1.0, 5.0, 4.0, 2.0])}
    parts = reduce_rows(np.array([0, 0, 1, 1]), 3, columns)
    assert parts.count["x"].tolist() == [1, 2, 0]
    assert parts.count["y"].tolist() == [2, 2, 0]  # a column without NaN counts every row
    assert parts.high["y"].tolist() == [5.0, 4.0, -np.inf]
    assert parts.total["x"].tolist() == [1.0, 6.0, 0.0]
    assert parts.low["x"].tolist() == [1.0, 2.0, np.inf]
    assert parts.high["x"].tolist() == [1.0, 4.0, -np.inf]


def test_event_clock_moves_only_with_event_times_or_flush() -> None:
    clock = EventClock(lateness_ns=10, horizon_ns=100)
    assert clock.on_time(np.array([-(2**62)])).all()  # no event yet: nothing is late
    clock.observe(np.array([1000, 500]))
    assert (clock.watermark, clock.floor) == (990, 890)
    clock.observe(np.array([10]))
    assert clock.watermark == 990
    assert clock.on_time(np.array([889, 890])).tolist() == [False, True]
    clock.advance_to(5000)
    assert clock.watermark == 5000


def test_store_reuses_freed_slots_and_emits_only_dirty_closed_windows() -> None:
    store = WindowStore(("x",))
    parts = reduce_rows(np.arange(3), 3, {"x": np.array([1.0, 2.0, 3.0])})
    keys = pack(np.array([1, 2, 3]), np.zeros(3, dtype=np.int32))
    store.fold(keys, np.array([10, 20, 30]), np.array([20, 30, 40]), parts)
    closed = store.take_closed(30)
    assert closed.start.tolist() == [10, 20]
    assert closed.mean("x").tolist() == [1.0, 2.0]
    assert store.take_closed(30).start.size == 0
    store.expire(30)
    assert len(store) == 1
    capacity = store.columns["start"].size
    store.fold(
        pack(np.array([8, 9]), np.zeros(2, dtype=np.int32)),  # sorted, as ``group`` gives them
        np.array([80, 90]),
        np.array([89, 99]),
        reduce_rows(np.arange(2), 2, {"x": np.array([6.0, 5.0])}),
    )
    assert store.columns["start"].size == capacity
    assert store.take_closed(100).mean("x").tolist() == [3.0, 6.0, 5.0]


def test_store_grows_only_when_its_slots_run_out() -> None:
    store = WindowStore(("x",), sample_size=4)
    for window in range(40):
        keys = pack(np.array([window]), np.zeros(1, dtype=np.int32))
        store.fold(
            keys,
            np.array([window]),
            np.array([window + 1]),
            reduce_rows(np.arange(1), 1, {"x": np.ones(1)}),
        )
    assert store.columns["start"].size == 64
    assert store.sample is not None
    assert store.sample.state(np.arange(40))["values"].shape == (40, 4)
