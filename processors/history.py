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
from processors.partials import IntpArray
from processors.windows import Arrays

__all__ = ["Readings", "View"]

_HOUR_NS: Final = 3_600 * 10**9
_LATEST: Final = np.iinfo(np.int64).max
_PROBES: Final = 4  # rows ``_last_before`` tries one by one before a pass over the column


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

    def due(self, watermark: int) -> IntpArray:
        """Rows of the pending readings whose UTC hour has ended by ``watermark``."""
        pending = np.flatnonzero(self.pending)
        # an hour has ended when it started before the watermark's hour
        closed = max(watermark // _HOUR_NS * _HOUR_NS, -(2**63))
        return pending[self.time_ns[pending] < closed]

    def insert(self, new: Readings, floor: int) -> tuple[Readings, Int32Array, Int64Array]:
        """Merged readings with ``pending`` marked; the devices that got new readings, and
        the time of the earliest new reading of each."""
        merged, added = self._merge(new)
        first = added[np.r_[True, merged.device[added[1:]] != merged.device[added[:-1]]]]
        devices = merged.device[first]
        lo, hi = merged._blocks(devices)
        # From the earliest new reading's hour on, or the previous fill reading's hour (the
        # new reading may confirm an emptying there); never before the update floor.
        prior = _last_before(merged.fill, lo, first)
        start = merged.time_ns[np.where(prior >= 0, prior, first)]  # prior is earlier
        dirty = start // _HOUR_NS * _HOUR_NS
        dirty = np.maximum(dirty, max(floor // _HOUR_NS * _HOUR_NS, -(2**63)))
        merged.pending[_ranges(merged._first_from(lo, hi, dirty), hi)] = True
        return merged, devices, merged.time_ns[first]

    def around(self, codes: Int32Array, since: Int64Array) -> View:
        """Readings of devices ``codes`` (sorted) from ``since`` (per device) on, plus each
        device's context before that: its last reading with a valid fill and its last one with
        a valid temperature. A reading is judged against the previous reading *of the same
        quantity* (a fill drop, a temperature rise), not against the last reading of any kind.

        Work is proportional to the rows returned (plus one pass for the context), not to
        all the readings held.
        """
        rows = self._keep(codes, since)
        return View(rows, self._take(rows))

    def fills_back(self, codes: Int32Array, since: Int64Array, n: int) -> Int64Array:
        """Per device ``codes`` (sorted, all present), the time of its ``n``-th fill reading
        before ``since``, or of its first reading if it has fewer."""
        lo, hi = self._blocks(codes)
        ordinal = np.cumsum(~np.isnan(self.fill), dtype=np.int64)  # fills up to and at a row
        wanted = _count_before(ordinal, self._first_from(lo, hi, since)) - n + 1
        enough = wanted > _count_before(ordinal, lo)
        row = np.where(enough, np.searchsorted(ordinal, wanted), lo)
        return self.time_ns[row]

    def prune(self, cut: int) -> Readings:
        """Drop readings before ``cut``, keeping each device's context (see ``around``).

        Work is one pass to find the old rows, then proportional to them (plus the copy).
        """
        old = np.flatnonzero(self.time_ns < cut)  # per device, a prefix of its block
        if not old.size:
            return self
        keep = np.ones(len(self), dtype=np.bool_)
        keep[old] = False
        for column in (self.fill, self.temperature):
            valid = old[~np.isnan(column[old])]
            last = np.diff(self.device[valid], append=-1) != 0  # codes are ≥ 0
            keep[valid[last]] = True  # each device's last
        return self if keep.all() else self._take(np.flatnonzero(keep))

    def _keep(self, codes: Int32Array, since: Int64Array) -> IntpArray:
        """The rows ``around`` selects, in order."""
        lo, hi = self._blocks(codes)
        cut = self._first_from(lo, hi, since)
        context = [_last_before(c, lo, cut) for c in (self.fill, self.temperature)]
        keep = np.zeros(len(self), dtype=np.bool_)  # a mask: merges and dedups in one pass
        keep[_ranges(cut, hi)] = True
        for rows in context:
            keep[rows[rows >= 0]] = True
        return np.flatnonzero(keep)

    def _blocks(self, codes: Int32Array) -> tuple[IntpArray, IntpArray]:
        """First row and end of each device's block of rows."""
        return np.searchsorted(self.device, codes), np.searchsorted(self.device, codes, "right")

    def _first_from(self, lo: IntpArray, hi: IntpArray, since: Int64Array) -> IntpArray:
        """Per block ``[lo, hi)``, its first row at or after ``since``: a binary search run
        for all blocks at once (one step per halving, never one per device)."""
        lo, hi = lo.copy(), hi.copy()
        while (searching := lo < hi).any():
            mid = (lo + hi) // 2
            earlier = searching & (self.time_ns[np.minimum(mid, len(self) - 1)] < since)
            lo = np.where(earlier, mid + 1, lo)
            hi = np.where(searching & ~earlier, mid, hi)
        return lo

    def _merge(self, new: Readings) -> tuple[Readings, IntpArray]:
        """These readings (sorted) and ``new``, sorted; and the rows the new ones landed in.

        Readings mostly arrive in time order: when each new reading is later than every held
        one of its device, the new ones are sorted alone and slotted in after their devices'
        blocks (no copy of the held rows beyond the merge itself); otherwise everything is
        sorted again.
        """
        inner = new._order()
        device, time_ns = new.device[inner], new.time_ns[inner]
        end = np.searchsorted(self.device, device, "right")  # after the device's block
        before = np.maximum(end - 1, 0)
        if len(self) and not np.all(
            (end == 0) | (self.device[before] != device) | (self.time_ns[before] < time_ns)
        ):
            merged = self._concat(new)
            order = merged._order()
            return merged._take(order), np.flatnonzero(order >= len(self))
        at = end + np.arange(len(new))  # where each (sorted) new reading lands
        held = np.ones(len(self) + len(new), dtype=np.bool_)
        held[at] = False
        columns = []
        for f in fields(self):
            column = np.empty(held.size, dtype=getattr(self, f.name).dtype)
            column[held] = getattr(self, f.name)
            column[at] = getattr(new, f.name)[inner]
            columns.append(column)
        return Readings(*columns), at

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


def _ranges(begin: IntpArray, end: IntpArray) -> IntpArray:
    """The rows of the disjoint, ascending ranges ``[begin, end)``, in order."""
    lengths = end - begin
    ends = np.cumsum(lengths)
    return np.repeat(begin - ends + lengths, lengths) + np.arange(int(ends[-1:].sum()))


def _count_before(ordinal: Int64Array, row: IntpArray) -> Int64Array:
    """From ``ordinal = cumsum(mask)``: how many masked rows lie before each ``row``."""
    return np.where(row > 0, ordinal[np.maximum(row - 1, 0)], 0)


def _last_before(column: Float64Array, lo: IntpArray, cut: IntpArray) -> IntpArray:
    """Per block, the last row in ``[lo, cut)`` where ``column`` is not NaN, else -1.

    Looks a few rows back first (usually the row just before ``cut`` has a value); only
    blocks still unresolved then take the pass over the whole column.
    """
    found = np.full(cut.size, -1, dtype=np.intp)
    row, todo = cut - 1, cut > lo
    for _ in range(_PROBES):
        if not todo.any():
            return found
        hit = todo & ~np.isnan(column[np.maximum(row, 0)])
        found[hit] = row[hit]
        row -= 1
        todo &= ~hit & (row >= lo)
    ordinal = np.cumsum(~np.isnan(column), dtype=np.int64)
    count = _count_before(ordinal, cut[todo])
    later = count > _count_before(ordinal, lo[todo])
    found[todo] = np.where(later, np.searchsorted(ordinal, count), -1)
    return found


@dataclass(frozen=True, slots=True)
class View:
    """A subset of the readings (copied) and its row numbers in the full set."""

    rows: IntpArray
    readings: Readings
