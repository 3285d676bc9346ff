"""A bounded, mergeable sample per window for percentile levels (L10, L50, L90).

Each window keeps the ``k`` readings with the smallest *priority*, a hash of (device, event
time). That "bottom-k" sample does not depend on arrival order or batching: the bottom-k of a
union is the bottom-k of the parts' bottom-k samples. With at most ``k`` readings in a window
the sample is the whole window and its percentiles are exact; with more they are the
percentiles of a uniform random subsample (approximate; the reading count is kept exactly).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from processors.base import Float64Array, Int32Array, Int64Array

__all__ = ["SampleStore", "priority"]

UInt64Array = npt.NDArray[np.uint64]
IntpArray = npt.NDArray[np.intp]

_NO_PRIORITY: Final = np.iinfo(np.uint64).max


def priority(device: Int32Array, time_ns: Int64Array) -> UInt64Array:
    """A well-mixed 64-bit hash of (device, time) (the SplitMix64 finaliser, applied twice)."""
    with np.errstate(over="ignore"):
        return _mix(_mix(device.astype(np.uint64)) ^ time_ns.view(np.uint64))


def _mix(x: UInt64Array) -> UInt64Array:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class SampleStore:
    """``k`` sample slots per window slot; slots are owned by a ``WindowStore``."""

    def __init__(self, k: int) -> None:
        self.k = k
        self._values: Float64Array = np.full((0, k), np.nan)
        self._priority: UInt64Array = np.full((0, k), _NO_PRIORITY, dtype=np.uint64)
        self._count: Int64Array = np.zeros(0, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        """Make room for window slots ``0 .. capacity - 1``."""
        extra = capacity - self._count.shape[0]
        self._values = np.vstack([self._values, np.full((extra, self.k), np.nan)])
        self._priority = np.vstack(
            [self._priority, np.full((extra, self.k), _NO_PRIORITY, dtype=np.uint64)]
        )
        self._count = np.concatenate([self._count, np.zeros(extra, dtype=np.int64)])

    def reset(self, slots: IntpArray) -> None:
        """Empty the given window slots (they are being reused)."""
        self._values[slots] = np.nan
        self._priority[slots] = _NO_PRIORITY
        self._count[slots] = 0

    def merge(self, slot: IntpArray, prio: UInt64Array, value: Float64Array) -> None:
        """Add readings (``slot`` per reading) and keep each slot's bottom-k.

        Slots with room take the readings as they are; only slots that overflow are re-ranked.
        """
        if slot.size == 0:
            return
        order = np.argsort(slot, kind="stable")
        slot, prio, value = slot[order], prio[order], value[order]
        first = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]])
        sizes = np.diff(np.r_[first, slot.size])
        touched, have = slot[first], self._count[slot[first]]
        fits = have + sizes <= self.k
        rank = np.arange(slot.size) - np.repeat(first - have, sizes)
        room = np.repeat(fits, sizes)
        self._values[slot[room], rank[room]] = value[room]
        self._priority[slot[room], rank[room]] = prio[room]
        self._count[touched[fits]] += sizes[fits]
        if not fits.all():
            self._rerank(touched[~fits], slot[~room], prio[~room], value[~room])

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
        ordered = np.sort(self._values[slots], axis=1)  # NaN padding sorts last
        n = self._count[slots]
        position = q / 100.0 * (n - 1)
        below = np.clip(np.floor(position).astype(np.intp), 0, self.k - 1)
        above = np.clip(below + 1, 0, np.maximum(n - 1, 0))
        rows = np.arange(slots.size)
        low, high = ordered[rows, below], ordered[rows, above]
        return np.where(n > 0, _lerp(low, high, position - below), np.nan)

    def state(self, slots: IntpArray) -> dict[str, npt.NDArray[np.generic]]:
        """Arrays to snapshot: the given slots, in that order."""
        return {
            "values": self._values[slots],
            "priority": self._priority[slots],
            "count": self._count[slots],
        }

    def load(self, state: dict[str, npt.NDArray[np.generic]]) -> None:
        """Restore arrays from ``state``; slot ``i`` is row ``i`` of the saved arrays."""
        self._values = state["values"].astype(np.float64)
        self._priority = state["priority"].astype(np.uint64)
        self._count = state["count"].astype(np.int64)


def _lerp(low: Float64Array, high: Float64Array, t: Float64Array) -> Float64Array:
    """Linear interpolation evaluated the way ``np.percentile`` does (from the nearer end)."""
    step = high - low
    return np.where(t >= 0.5, high - step * (1.0 - t), low + step * t)
