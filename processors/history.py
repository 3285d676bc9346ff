"""Recent bin readings, sorted by (device, time): the waste processor's whole state.

Readings newer than the update floor can still change; an hour is recomputed from the readings
around it. ``pending`` marks readings whose hour must be (re-)emitted once closed: new readings,
and every later reading of the same bin (a fill rate looks back), starting at the previous fill
reading's hour (the new reading may confirm an emptying there).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

import numpy as np

from processors.base import Batch, BoolArray, Float64Array, Int32Array, Int64Array
from processors.episodes import block_starts, last_index, previous
from processors.partials import IntpArray
from processors.windows import Arrays

__all__ = ["Readings", "View"]

_HOUR_NS: Final = 3_600 * 10**9
_LATEST: Final = np.iinfo(np.int64).max


@dataclass(slots=True)
class Readings:
    """Columns of bin readings sorted by (device, time, fill, temperature)."""

    device: Int32Array
    time_ns: Int64Array
    fill: Float64Array  # NaN = no valid fill reading
    temperature: Float64Array  # NaN = no valid temperature reading
    pending: BoolArray
    fire_alerted: BoolArray  # this reading started a fire alert
    full_alerted: BoolArray  # this reading's hour started a bin_full alert
    rate: Float64Array  # cached fill rate of the hour this reading ends (valid unless pending)

    @classmethod
    def empty(cls) -> Readings:
        """No readings."""
        return cls.from_batch(Batch(np.empty(0, np.int32), np.empty(0, np.int64), {}))

    @classmethod
    def from_batch(cls, batch: Batch) -> Readings:
        """The batch's readings with a valid fill or temperature, all pending."""
        fill, temperature = batch.valid("fill_pct"), batch.valid("temperature")
        keep = ~(np.isnan(fill) & np.isnan(temperature))
        n = int(keep.sum())
        no = np.zeros(n, dtype=np.bool_)
        return cls(
            batch.device[keep].astype(np.int32),
            batch.time_ns[keep].astype(np.int64),
            fill[keep],
            temperature[keep],
            np.ones(n, dtype=np.bool_),
            no,
            no.copy(),
            np.full(n, np.nan),
        )

    def __len__(self) -> int:
        return int(self.time_ns.size)

    def hour_end(self) -> Int64Array:
        """End of each reading's UTC hour."""
        return (self.time_ns // _HOUR_NS + 1) * _HOUR_NS

    def insert(self, new: Readings, floor: int) -> tuple[Readings, Int32Array, Int64Array]:
        """Merged readings with ``pending`` marked; the devices that got new readings, and
        the time of the earliest new reading of each."""
        merged = self._concat(new)
        order = merged._order()
        merged = merged._take(order)
        is_new = order >= len(self)
        start = block_starts(merged.device)
        prior = previous(last_index(~np.isnan(merged.fill), start), start)
        hour = merged.time_ns // _HOUR_NS * _HOUR_NS
        dirty = np.where(prior >= 0, np.minimum(hour, hour[np.maximum(prior, 0)]), hour)
        dirty = np.maximum(dirty, max(floor // _HOUR_NS * _HOUR_NS, -(2**63)))
        first_dirty = np.full(merged.device.size, _LATEST)
        np.minimum.at(first_dirty, start[is_new], dirty[is_new])
        merged.pending |= merged.time_ns >= first_dirty[start]
        devices, first = np.unique(merged.device[is_new], return_index=True)
        return merged, devices, merged.time_ns[is_new][first]

    def around(self, codes: Int32Array, since: Int64Array) -> View:
        """Readings of devices ``codes`` (sorted) from ``since`` (per device) on, plus each
        device's last fill and last temperature reading before that (the context a first
        reading is judged against)."""
        at = np.clip(np.searchsorted(codes, self.device), 0, max(codes.size - 1, 0))
        chosen = (codes[at] == self.device) if codes.size else np.zeros(len(self), np.bool_)
        cut = np.where(chosen, since[at] if codes.size else 0, _LATEST)
        rows = np.flatnonzero(chosen & self._from(cut))
        return View(rows, self._take(rows))

    def prune(self, cut: int) -> Readings:
        """Drop readings before ``cut``, keeping each device's context (see ``_from``)."""
        return self._take(np.flatnonzero(self._from(np.full(len(self), cut, dtype=np.int64))))

    def _from(self, cut: Int64Array) -> BoolArray:
        """Rows at or after their ``cut`` (constant per device), and each device's context
        before it: its last row with a valid fill and its last row with a valid temperature.

        A reading is judged against the previous reading *of the same quantity* (a fill drop,
        a temperature rise), which need not be the device's last reading of any kind.
        """
        old = self.time_ns < cut
        keep: BoolArray = ~old
        for valid in (~np.isnan(self.fill), ~np.isnan(self.temperature)):
            rows = np.flatnonzero(old & valid)
            last = np.r_[self.device[rows[1:]] != self.device[rows[:-1]], True]
            keep[rows[last[: rows.size]]] = True
        return keep

    def _order(self) -> IntpArray:
        """Sort order by (device, time, fill, temperature); NaN sorts last."""
        if not len(self):
            return np.arange(0, dtype=np.intp)
        t0, d0 = int(self.time_ns.min()), int(self.device.min())
        span = int(self.time_ns.max()) - t0 + 1
        if (int(self.device.max()) - d0 + 1) * span >= 2**62:
            return np.lexsort((self.temperature, self.fill, self.time_ns, self.device))
        primary = (self.device.astype(np.int64) - d0) * span + (self.time_ns - t0)
        order = np.argsort(primary, kind="stable")  # fast: mostly one sorted run
        ranked = primary[order]
        if np.any(ranked[1:] == ranked[:-1]):  # same device and time: order by the values too
            return np.lexsort((self.temperature, self.fill, primary))
        return order

    def state(self) -> Arrays:
        """Arrays to snapshot."""
        return {"readings:" + f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def load(cls, arrays: Arrays) -> Readings:
        """Restore from ``state``."""
        return cls(*(arrays["readings:" + f.name] for f in fields(cls)))

    def _take(self, rows: IntpArray) -> Readings:
        return Readings(*(getattr(self, f.name)[rows] for f in fields(self)))

    def _concat(self, other: Readings) -> Readings:
        return Readings(
            *(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self))
        )


@dataclass(frozen=True, slots=True)
class View:
    """A subset of the readings (copied) and its row numbers in the full set."""

    rows: IntpArray
    readings: Readings
