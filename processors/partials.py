"""Grouping rows by (window, device) and reducing them to mergeable partial aggregates.

The kernels are ``np.bincount`` and ``np.minimum.at``/``np.maximum.at`` over a group index, so
no sort is needed when a batch spans few windows (the common case).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from processors.base import Float64Array, Int32Array, Int64Array

__all__ = [
    "IntpArray",
    "Partials",
    "group",
    "pack",
    "reduce_rows",
    "regroup",
    "stable_order",
    "unpack",
]

IntpArray = npt.NDArray[np.intp]

_DEVICE_BITS: Final = 32
_DEVICE_MASK: Final = 2**32 - 1
_DENSE_FACTOR: Final = 4  # a dense (window x device) grid up to 4x the row count beats sorting


@dataclass(frozen=True, slots=True)
class Partials:
    """Per-group aggregates: ``count``/``sum``/``min``/``max`` arrays per field."""

    count: dict[str, Int64Array]
    total: dict[str, Float64Array]
    low: dict[str, Float64Array]
    high: dict[str, Float64Array]


def group(window: Int64Array, device: Int32Array) -> tuple[Int64Array, IntpArray]:
    """Sorted unique (window, device) keys and each row's index into them.

    A key packs the window number above the device code. Uses a dense bincount grid when the
    batch's (window x device) span is small, ``np.unique`` otherwise; both give the same result.
    """
    if window.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.intp)
    w0, d0 = int(window.min()), int(device.min())
    width = int(device.max()) - d0 + 1
    cells = (int(window.max()) - w0 + 1) * width
    if d0 < 0 or cells > _DENSE_FACTOR * window.size + 4096:
        return np.unique(pack(window, device), return_inverse=True)
    cell = window - w0  # in place from here: one temporary, not four
    cell *= width
    cell += device
    cell -= d0
    used = np.flatnonzero(np.bincount(cell, minlength=cells))
    lookup = np.zeros(cells, dtype=np.intp)
    lookup[used] = np.arange(used.size)
    return pack(used // width + w0, used % width + d0), lookup[cell]


def pack(window: Int64Array, device: npt.NDArray[np.integer]) -> Int64Array:
    """Window number and device code as one sortable int64 key."""
    return (window.astype(np.int64) << _DEVICE_BITS) | (device.astype(np.int64) & _DEVICE_MASK)


def unpack(key: Int64Array) -> tuple[Int64Array, Int32Array]:
    """Inverse of ``pack``."""
    return key >> _DEVICE_BITS, (key & _DEVICE_MASK).astype(np.uint32).view(np.int32)


def stable_order(key: npt.NDArray[np.integer]) -> IntpArray:
    """``np.argsort(key, kind="stable")`` for keys ≥ 0, several times faster.

    Numbering equal keys by position makes every key unique, so NumPy's (SIMD) quicksort gives
    the stable order; falls back to the stable sort where the numbered keys would overflow.
    """
    if key.size == 0 or int(key.min()) < 0 or int(key.max()) >= (2**62) // key.size:
        return np.argsort(key, kind="stable")
    unique = key.astype(np.int64) * key.size
    unique += np.arange(key.size)
    return np.argsort(unique).astype(np.intp, copy=False)


def reduce_rows(index: IntpArray, size: int, columns: dict[str, Float64Array]) -> Partials:
    """Aggregate rows into ``size`` groups; NaN values are absent.

    A column without NaN (the common case) is reduced over ``index`` as it is, and such
    columns share one ``count``: no compacted copies of the rows.
    """
    count: dict[str, Int64Array] = {}
    total: dict[str, Float64Array] = {}
    low: dict[str, Float64Array] = {}
    high: dict[str, Float64Array] = {}
    every: Int64Array | None = None  # the count of a column without NaN
    for name, column in columns.items():
        valid = ~np.isnan(column)
        if valid.all():
            rows, values = index, column
            every = _count(rows, size) if every is None else every
            count[name] = every
        else:
            rows, values = index[valid], column[valid]
            count[name] = _count(rows, size)
        total[name] = np.bincount(rows, values, size).astype(np.float64, copy=False)
        low[name], high[name] = _extremes(rows, size, values)
    return Partials(count, total, low, high)


def _count(rows: IntpArray, size: int) -> Int64Array:
    return np.bincount(rows, minlength=size).astype(np.int64, copy=False)


def _extremes(
    rows: IntpArray, size: int, values: Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Per-group minimum and maximum (+inf / -inf for an empty group)."""
    low, high = np.full(size, np.inf), np.full(size, -np.inf)
    np.minimum.at(low, rows, values)
    np.maximum.at(high, rows, values)
    return low, high


def regroup(index: IntpArray, size: int, parts: Partials) -> Partials:
    """Merge partials into coarser groups (hour partials into days)."""
    count: dict[str, Int64Array] = {}
    total: dict[str, Float64Array] = {}
    low: dict[str, Float64Array] = {}
    high: dict[str, Float64Array] = {}
    for name in parts.count:
        count[name] = np.bincount(index, parts.count[name], size).astype(np.int64)
        total[name] = np.bincount(index, parts.total[name], size).astype(np.float64, copy=False)
        low[name] = np.full(size, np.inf)
        np.minimum.at(low[name], index, parts.low[name])
        high[name] = np.full(size, -np.inf)
        np.maximum.at(high[name], index, parts.high[name])
    return Partials(count, total, low, high)
