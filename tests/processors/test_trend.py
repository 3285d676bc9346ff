"""Theil–Sen slopes against a direct pairwise median."""

from __future__ import annotations

import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.trend import theil_sen


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 100)), min_size=1, max_size=12),
    st.integers(1, 6),
    st.data(),
)
def test_matches_the_pairwise_median(
    points: list[tuple[int, int]], m: int, data: st.DataObject
) -> None:
    points.sort()
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([p[1] for p in points], dtype=np.float64)
    last = np.arange(len(points), dtype=np.intp)
    dropped = data.draw(st.lists(st.booleans(), min_size=len(points) * m, max_size=len(points) * m))
    point = last[:, None] - m + 1 + np.arange(m)[None, :]
    use = (point >= 0) & ~np.array(dropped).reshape(len(points), m)  # gaps, as lookback makes
    got = theil_sen(x, y, last, use)
    for b in range(len(points)):
        window = [points[p] for p, u in zip(point[b], use[b], strict=True) if u]
        slopes = [
            (y2 - y1) / (x2 - x1)
            for i, (x1, y1) in enumerate(window)
            for x2, y2 in window[i + 1 :]
            if x2 != x1
        ]
        want = statistics.median(slopes) if slopes else np.nan
        assert np.isclose(got[b], want, equal_nan=True)


def test_one_outlier_barely_moves_the_slope() -> None:
    x = np.arange(9, dtype=np.float64)
    y = 2 * x
    y[4] = 100.0
    got = theil_sen(x, y, np.array([8]), np.ones((1, 9), dtype=bool))
    assert got[0] == 2.0
