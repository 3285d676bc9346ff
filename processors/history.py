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
from processors.windows import Arrays, IntpArray

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
        )

    def __len__(self) -> int:
        return int(self.time_ns.size)

    def hour_end(self) -> Int64Array:
        """End of each reading's UTC hour."""
        return (self.time_ns // _HOUR_NS + 1) * _HOUR_NS

    def insert(self, new: Readings, floor: int) -> tuple[Readings, Int32Array]:
        """Merged readings with ``pending`` marked, and the devices that got new readings."""
        merged = self._concat(new)
        order = np.lexsort((merged.temperature, merged.fill, merged.time_ns, merged.device))
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
        return merged, np.unique(new.device)

    def devices(self, codes: Int32Array) -> View:
        """The readings of the given devices (still sorted) and where they sit in ``self``."""
        rows = np.flatnonzero(np.isin(self.device, codes))
        return View(rows, self._take(rows))

    def prune(self, cut: int) -> Readings:
        """Drop readings before ``cut``, keeping each device's last one before it."""
        old = self.time_ns < cut
        last_old = np.r_[old[:-1] & ~(old[1:] & (self.device[1:] == self.device[:-1])), old[-1:]]
        return self._take(np.flatnonzero(~old | last_old))

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
