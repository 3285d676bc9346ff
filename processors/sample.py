"""A bounded, mergeable sample per window for percentile levels (L10, L50, L90).

Each window keeps the ``k`` readings with the smallest *priority*, a hash of (device, event
time). That "bottom-k" sample does not depend on arrival order or batching: the bottom-k of a
union is the bottom-k of the parts' bottom-k samples. With at most ``k`` readings in a window
the sample is the whole window and its percentiles are exact; with more they are the
percentiles of a uniform random subsample (approximate; the reading count is kept exactly).
"""

from __future__ import annotations

from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

from processors.base import Float64Array, Int32Array, Int64Array
from processors.partials import stable_sort

__all__ = ["SampleStore", "priority"]

UInt64Array = npt.NDArray[np.uint64]
IntpArray = npt.NDArray[np.intp]

_NO_PRIORITY: Final = np.iinfo(np.uint64).max
_WIDTH_STEP: Final = 8
_Entry = TypeVar("_Entry", np.float64, np.uint64)


def priority(device: Int32Array, time_ns: Int64Array) -> UInt64Array:
    """A well-mixed 64-bit hash of (device, time) (the SplitMix64 finaliser, applied twice)."""
    with np.errstate(over="ignore"):
        return _mix(_mix(device.astype(np.uint64)) ^ time_ns.view(np.uint64))


def _mix(x: UInt64Array) -> UInt64Array:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class SampleStore:
    """Up to ``k`` sample entries per window slot; slots are owned by a ``WindowStore``.

    Entries live in (slots x width) arrays whose width grows with the fullest window, in steps
    of ``_WIDTH_STEP`` up to ``k``: devices reporting every 5 minutes need 12 entries an hour,
    not the 64 a 1-minute device can fill. Only a slot's first ``count`` entries are defined;
    the rest is never initialised, so memory is touched only where entries are written.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        width = min(k, _WIDTH_STEP)
        self._values: Float64Array = np.empty((0, width))
        self._priority: UInt64Array = np.empty((0, width), dtype=np.uint64)
        self._count: Int64Array = np.zeros(0, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        """Make room for window slots ``0 .. capacity - 1`` (empty)."""
        self._resize(capacity, self._values.shape[1])

    def reset(self, slots: IntpArray) -> None:
        """Empty the given window slots (they are being reused)."""
        self._count[slots] = 0

    def merge(self, slot: IntpArray, prio: UInt64Array, value: Float64Array) -> None:
        """Add readings (``slot`` per reading) and keep each slot's bottom-k.

        Slots with room take the readings as they are; only slots that overflow are re-ranked.
        """
        if slot.size == 0:
            return
        slot, order = stable_sort(slot)
        prio, value = prio[order], value[order]
        first = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]])
        sizes = np.diff(np.r_[first, slot.size])
        touched, have = slot[first], self._count[slot[first]]
        needed = min(int((have + sizes).max()), self.k)
        if needed > self._values.shape[1]:
            self._resize(self._count.size, min(-(-needed // _WIDTH_STEP) * _WIDTH_STEP, self.k))
        fits = have + sizes <= self.k
        rank = np.arange(slot.size) - np.repeat(first - have, sizes)
        if fits.all():
            self._put(slot, rank, prio, value)
        else:
            room = np.repeat(fits, sizes)
            self._put(slot[room], rank[room], prio[room], value[room])
            self._rerank(touched[~fits], slot[~room], prio[~room], value[~room])
        self._count[touched[fits]] += sizes[fits]

    def _put(
        self, slot: IntpArray, rank: IntpArray, prio: UInt64Array, value: Float64Array
    ) -> None:
        """Write entries at (slot, rank), addressed in the flat arrays (cheaper than 2-D)."""
        flat = slot * self._values.shape[1] + rank
        self._values.reshape(-1)[flat] = value
        self._priority.reshape(-1)[flat] = prio

    def _resize(self, capacity: int, width: int) -> None:
        """Widen to ``capacity`` slots of ``width`` entries (both only grow); new slots are
        empty. ``np.empty``/``np.zeros`` leave untouched pages unmapped until written."""
        rows, columns = self._values.shape
        values = np.empty((capacity, width))
        values[:rows, :columns] = self._values
        priority = np.empty((capacity, width), dtype=np.uint64)
        priority[:rows, :columns] = self._priority
        count = np.zeros(capacity, dtype=np.int64)
        count[:rows] = self._count
        self._values, self._priority, self._count = values, priority, count

    def _rerank(
        self, touched: IntpArray, slot: IntpArray, prio: UInt64Array, value: Float64Array
    ) -> None:
        """Keep the bottom-k by (priority, value) of held and new readings of full slots."""
        have = self._count[touched]
        held = np.arange(self.k)[None, :] < have[:, None]
        all_slot = np.concatenate([np.repeat(touched, have), slot])
        all_prio = np.concatenate([self._priority[touched][held], prio])
        all_value = np.concatenate([self._values[touched][held], value])
        order = np.lexsort((all_value, all_prio, all_slot))
        all_slot, all_prio, all_value = all_slot[order], all_prio[order], all_value[order]
        first = np.flatnonzero(np.r_[True, all_slot[1:] != all_slot[:-1]])
        sizes = np.diff(np.r_[first, all_slot.size])
        rank = np.arange(all_slot.size) - np.repeat(first, sizes)
        keep = rank < self.k
        self._values[all_slot[keep], rank[keep]] = all_value[keep]
        self._priority[all_slot[keep], rank[keep]] = all_prio[keep]
        self._count[all_slot[first]] = np.minimum(sizes, self.k)

    def percentiles(self, slots: IntpArray, q: float) -> Float64Array:
        """The ``q``-th percentile of each slot's sample, linear interpolation (NumPy default)."""
        return self.several_percentiles(slots, (q,))[0]

    def several_percentiles(self, slots: IntpArray, qs: tuple[float, ...]) -> list[Float64Array]:
        """``percentiles`` for each of ``qs``, sorting the samples once."""
        n = self._count[slots]
        ordered = np.sort(self._defined(self._values[slots], n, np.nan), axis=1)  # NaN last
        rows = np.arange(slots.size)
        out = []
        for q in qs:
            position = q / 100.0 * (n - 1)
            below = np.clip(np.floor(position).astype(np.intp), 0, ordered.shape[1] - 1)
            above = np.clip(below + 1, 0, np.maximum(n - 1, 0))
            low, high = ordered[rows, below], ordered[rows, above]
            out.append(np.where(n > 0, _lerp(low, high, position - below), np.nan))
        return out

    def state(self, slots: IntpArray) -> dict[str, npt.NDArray[np.generic]]:
        """Arrays to snapshot: the given slots, in that order (undefined entries blanked)."""
        n = self._count[slots]
        return {
            "values": self._defined(self._values[slots], n, np.nan),
            "priority": self._defined(self._priority[slots], n, _NO_PRIORITY),
            "count": n,
        }

    def load(self, state: dict[str, npt.NDArray[np.generic]]) -> None:
        """Restore arrays from ``state``; slot ``i`` is row ``i`` of the saved arrays."""
        self._values = state["values"].astype(np.float64)
        self._priority = state["priority"].astype(np.uint64)
        self._count = state["count"].astype(np.int64)

    @staticmethod
    def _defined(rows: npt.NDArray[_Entry], count: Int64Array, blank: float) -> npt.NDArray[_Entry]:
        """``rows`` (a copy) with the entries past each row's ``count`` set to ``blank``."""
        rows[np.arange(rows.shape[1])[None, :] >= count[:, None]] = blank
        return rows


def _lerp(low: Float64Array, high: Float64Array, t: Float64Array) -> Float64Array:
    """Linear interpolation evaluated the way ``np.percentile`` does (from the nearer end)."""
    step = high - low
    return np.where(t >= 0.5, high - step * (1.0 - t), low + step * t)
