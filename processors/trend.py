"""Robust trend: Theil–Sen slopes for many short series at once.

The Theil–Sen estimator (Theil 1950, Sen 1968) is the median of the slopes between all pairs of
points; one outlier moves it little, unlike least squares. Each query here is a window of at
most ``m`` consecutive points of a shared array, so every query has at most m·(m-1)/2 pairs and
the work is one (queries x pairs) matrix, processed in chunks to bound memory.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from processors.base import BoolArray, Float64Array

__all__ = ["theil_sen"]

IntpArray = npt.NDArray[np.intp]

_CHUNK_ELEMENTS: Final = 1 << 17  # slopes per chunk: its temporaries stay in cache


def theil_sen(x: Float64Array, y: Float64Array, last: IntpArray, use: BoolArray) -> Float64Array:
    """Median pairwise slope of the points ``last - m + 1 .. last`` for each query.

    ``use`` is a (queries x m) mask: ``use[q, k]`` says whether point ``last[q] - m + 1 + k``
    belongs to query ``q`` (the caller masks out points before a series start). Pairs with equal
    ``x`` are skipped. NaN where a query has no usable pair.
    """
    m = use.shape[1]
    left, right = np.triu_indices(m, 1)
    out = np.full(last.size, np.nan)
    if left.size == 0:
        return out
    rows = max(1, _CHUNK_ELEMENTS // left.size)
    for begin in range(0, last.size, rows):  # a few chunks, never one step per series
        part = slice(begin, begin + rows)
        out[part] = _median_slopes(x, y, last[part], use[part], (left, right))
    return out


def _median_slopes(
    x: Float64Array,
    y: Float64Array,
    last: IntpArray,
    use: BoolArray,
    pairs: tuple[IntpArray, IntpArray],
) -> Float64Array:
    """Median pairwise slope per query.

    The (queries x m) windows are gathered once, unused points set to NaN (so every pair with
    one has a NaN slope), the pairs taken column-wise (``np.take``, much faster than fancy
    ``[:, index]``) and each row of slopes sorted (NumPy's SIMD sort beats a selection at this
    width); NaN sorts last, so a row's ``n`` usable slopes come first.
    """
    left, right = pairs
    m = use.shape[1]
    point = np.maximum(last[:, None] - m + 1 + np.arange(m)[None, :], 0)
    px, py = np.where(use, x[point], np.nan), y[point]
    dx = np.take(px, right, axis=1) - np.take(px, left, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = (np.take(py, right, axis=1) - np.take(py, left, axis=1)) / dx
    slopes[dx == 0] = np.nan  # pairs with equal x have no slope
    slopes.sort(axis=1)
    n = left.size - np.isnan(slopes).sum(axis=1)
    rows = np.arange(last.size)
    low = slopes[rows, np.maximum((n - 1) // 2, 0)]
    high = slopes[rows, np.maximum(n // 2, 0)]
    return np.where(n > 0, (low + high) / 2.0, np.nan)
