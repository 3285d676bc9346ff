"""Grouping rows by (window, device) and reducing them to mergeable partial aggregates.

The kernels are ``np.bincount`` and ``np.minimum.at``/``np.maximum.at`` over a group index, so
no sort is needed when a batch spans few windows (the common case).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from processors.base import Float64Array, Int32Array, Int64Array

__all__ = [
    "STATS",
    "IntpArray",
    "Partials",
    "Stats",
    "group",
    "pack",
    "reduce_rows",
    "regroup",
    "stable_order",
    "stable_sort",
    "unpack",
]

IntpArray = npt.NDArray[np.intp]

_DEVICE_BITS: Final = 32
_DEVICE_MASK: Final = 2**32 - 1
_DENSE_FACTOR: Final = 4  # a dense (window x device) grid up to 4x the row count beats sorting

STATS: Final = ("count", "sum", "min", "max")
Stats = Mapping[str, tuple[str, ...]]  # field -> the statistics kept of it (a subset of STATS)


@dataclass(frozen=True, slots=True)
class Partials:
    """Per-group aggregates: ``count``/``sum``/``min``/``max`` arrays per field (each dict
    holds the fields that statistic is kept for)."""

    count: dict[str, Int64Array]
    total: dict[str, Float64Array]
    low: dict[str, Float64Array]
    high: dict[str, Float64Array]

    def select(self, stats: Stats) -> Partials:
        """Only the statistics ``stats`` names, of only the fields it names."""
        return Partials(
            {n: self.count[n] for n, wanted in stats.items() if "count" in wanted},
            {n: self.total[n] for n, wanted in stats.items() if "sum" in wanted},
            {n: self.low[n] for n, wanted in stats.items() if "min" in wanted},
            {n: self.high[n] for n, wanted in stats.items() if "max" in wanted},
        )


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
    if used.size == cells:  # every cell has rows: the cell is the group
        return pack(used // width + w0, used % width + d0), cell
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
    """``np.argsort(key, kind="stable")`` for keys ≥ 0, several times faster (``stable_sort``)."""
    return stable_sort(key)[1]


def stable_sort(key: npt.NDArray[np.integer]) -> tuple[Int64Array, IntpArray]:
    """``key`` sorted (as int64) and the stable order that sorts it, for keys ≥ 0.

    Each key is shifted up and its row number put in the low bits: the packed values are
    unique, so a plain value sort (NumPy's SIMD sort, much faster than an argsort) gives the
    stable order, read back from the low bits. Falls back to the stable argsort where the
    packed keys would overflow.
    """
    bits = max(int(key.size - 1).bit_length(), 1)
    if key.size == 0 or int(key.min()) < 0 or int(key.max()) >= 2 ** (63 - bits):
        order = np.argsort(key, kind="stable")
        return key[order].astype(np.int64, copy=False), order
    packed = key.astype(np.int64) << bits
    packed |= np.arange(key.size)
    packed.sort()
    order = packed & ((1 << bits) - 1)
    packed >>= bits
    return packed, order.astype(np.intp, copy=False)


def reduce_rows(
    index: IntpArray, size: int, columns: dict[str, Float64Array], stats: Stats | None = None
) -> Partials:
    """Aggregate rows into ``size`` groups; NaN values are absent.

    ``stats`` names the statistics wanted per column (all of ``STATS`` by default): each one
    is a pass over the rows. A column without NaN (the common case) is reduced over ``index``
    as it is, and such columns share one ``count``: no compacted copies of the rows.
    """
    parts = Partials({}, {}, {}, {})
    every: Int64Array | None = None  # the count of a column without NaN
    for name, column in columns.items():
        wanted = STATS if stats is None else stats[name]
        valid = ~np.isnan(column)
        if valid.all():
            rows, values = index, column
            if "count" in wanted:
                every = _count(rows, size) if every is None else every
                parts.count[name] = every
        else:
            rows, values = index[valid], column[valid]
            if "count" in wanted:
                parts.count[name] = _count(rows, size)
        if "sum" in wanted:
            parts.total[name] = np.bincount(rows, values, size).astype(np.float64, copy=False)
        if "min" in wanted:
            parts.low[name] = _extreme(np.minimum, np.inf, rows, size, values)
        if "max" in wanted:
            parts.high[name] = _extreme(np.maximum, -np.inf, rows, size, values)
    return parts


def _count(rows: IntpArray, size: int) -> Int64Array:
    return np.bincount(rows, minlength=size).astype(np.int64, copy=False)


def _extreme(
    ufunc: np.ufunc, empty: float, rows: IntpArray, size: int, values: Float64Array
) -> Float64Array:
    """Per-group minimum or maximum (``empty``, its identity, for an empty group)."""
    out = np.full(size, empty)
    ufunc.at(out, rows, values)
    return out


def regroup(index: IntpArray, size: int, parts: Partials) -> Partials:
    """Merge partials into coarser groups (hour partials into days), statistic by statistic."""
    return Partials(
        {n: np.bincount(index, c, size).astype(np.int64) for n, c in parts.count.items()},
        {
            n: np.bincount(index, t, size).astype(np.float64, copy=False)
            for n, t in parts.total.items()
        },
        {n: _extreme(np.minimum, np.inf, index, size, v) for n, v in parts.low.items()},
        {n: _extreme(np.maximum, -np.inf, index, size, v) for n, v in parts.high.items()},
    )
