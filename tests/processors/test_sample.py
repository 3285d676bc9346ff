"""Bounded sample: order-independent bottom-k and NumPy-compatible percentiles."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.sample import SampleStore, priority


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 50), st.integers(0, 40)), max_size=40),
    st.randoms(),
    st.integers(1, 8),
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
