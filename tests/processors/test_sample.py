"""Bounded sample: order-independent bottom-k and NumPy-compatible percentiles."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.sample import SampleStore, priority


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 50), st.integers(0, 40)), max_size=60),
    st.randoms(),
    st.integers(1, 24),  # past 8 the sample widens while it fills
)
def test_bottom_k_does_not_depend_on_order_or_batching(
    rows: list[tuple[int, int, int]], rnd, k: int
) -> None:
    def fill(order: list[tuple[int, int, int]], cut: int) -> np.ndarray:
        store = SampleStore(k)
        store.grow(2)
        for part in (order[:cut], order[cut:]):
            slot = np.array([r[0] for r in part], dtype=np.intp)
            prio = priority(
                np.zeros(len(part), np.int32), np.array([r[1] for r in part], dtype=np.int64)
            )
            store.merge(slot, prio, np.array([float(r[2]) for r in part]))
        return np.array([store.percentiles(np.array([0, 1]), q) for q in (0, 10, 50, 90, 100)])

    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert np.array_equal(
        fill(rows, len(rows)), fill(shuffled, rnd.randint(0, len(rows))), equal_nan=True
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(20, 140), min_size=1, max_size=16), st.floats(0, 100))
def test_percentile_of_a_full_sample_equals_numpy(values: list[float], q: float) -> None:
    store = SampleStore(16)
    store.grow(1)
    store.merge(
        np.zeros(len(values), np.intp),
        priority(np.zeros(len(values), np.int32), np.arange(len(values))),
        np.array(values),
    )
    assert np.isclose(store.percentiles(np.array([0]), q)[0], np.percentile(values, q), rtol=1e-12)


def test_width_follows_the_fullest_window_up_to_k() -> None:
    store = SampleStore(64)
    store.grow(3)
    for slot, times in ((0, range(5)), (1, range(6)), (1, range(6, 12))):
        time_ns = np.array(times, dtype=np.int64)
        rows = np.full(time_ns.size, slot, dtype=np.intp)
        store.merge(rows, priority(np.zeros(time_ns.size, np.int32), time_ns), time_ns * 1.0)
    state = store.state(np.arange(3))
    assert state["values"].shape == (3, 16)  # 12 entries fit in 16, not in k = 64
    assert state["count"].tolist() == [5, 12, 0]
    assert np.array_equal(np.sort(state["values"][1][:12]), np.arange(12.0))
