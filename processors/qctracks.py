"""Sequence-test state of the quality checker: spike, rate of change and flat line over one
device's readings of a field in time order, with a bounded history per device and field.

Real time, and revised flags. The spike test judges a reading by both neighbours, so the newest
reading is written without it; when its successor shows it was a spike, the stored reading is
*revised*. The flat-line test flags a reading once the run of nearly equal values it ends is
long enough, and then also revises the run's earlier members (as far back as the last
``history`` readings reach): they were just as stuck. Revisions are ``Points`` of the kind's
measurement with only ``<field>_qc`` fields: a point is identified by measurement, tags and time,
so writing them updates the stored readings' flags (InfluxDB merges field sets).

Memory. State is kept only for devices that reported the field (a row each, found through a
per-code index), and each ring is only as wide as the most readings any device has had, up to
``history``: a left column never filled is the same as a full-width ring's empty ones.

Deliberate differences from ioos_qc: NaN values are skipped by the sequence tests (neighbours
are the previous and next *reported* values); a flat-line window holds at least 3 readings; the
flat line is a greedy run (it restarts at the value that would widen its spread to the
tolerance), which is ioos_qc's sliding window for a stuck sensor and flags no more otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from processors.base import (
    FAIL,
    BoolArray,
    Float64Array,
    Int32Array,
    Int64Array,
    UInt8Array,
)
from processors.qctests import (
    NOT_EVALUATED,
    PASS,
    SUSPECT,
    FieldQc,
    SpikeMethod,
    combine,
    spike_flags,
)

__all__ = ["Revision", "SequencePass", "Track"]

_NEVER: Final = np.iinfo(np.int64).min
_NO_ROW: Final = -1
_SHORTEST_FLAT: Final = 3  # readings in the shortest flat-line window
_FIRST_WIDTH: Final = 2  # ring columns of a new track (a median interval needs two readings)

# Per-row state columns: fill value of a device without readings, and dtype.
_LAYOUT: Final = {
    "last_t": (_NEVER, np.int64),
    "last_x": (np.nan, np.float64),
    "prev_x": (np.nan, np.float64),
    "run_lo": (np.nan, np.float64),
    "run_hi": (np.nan, np.float64),
    "run_len": (0, np.int64),
    "run_flagged": (False, np.bool_),
    "ring_t": (_NEVER, np.int64),
    "ring_flag": (0, np.uint8),
    "code": (-1, np.int32),
}


@dataclass(slots=True)
class Track:
    """Sequence-test state of one (kind, field): one row per device that reported it (``row``:
    device code → row or -1; ``code``: row → device code; ``used`` rows of the columns' capacity
    hold state). The rings hold each device's newest readings, oldest first: time and flag as
    written."""

    history: int
    used: int
    row: Int32Array
    last_t: Int64Array
    last_x: Float64Array
    prev_x: Float64Array
    run_lo: Float64Array
    run_hi: Float64Array
    run_len: Int64Array
    run_flagged: BoolArray
    ring_t: Int64Array
    ring_flag: UInt8Array
    code: Int32Array

    @classmethod
    def empty(cls, history: int) -> Track:
        width = min(history, _FIRST_WIDTH)
        columns: list[npt.NDArray[Any]] = [
            np.full((0, width) if name.startswith("ring") else 0, fill, dtype=dtype)
            for name, (fill, dtype) in _LAYOUT.items()
        ]
        return cls(history, 0, np.empty(0, np.int32), *columns)

    @classmethod
    def restored(cls, history: int, state: dict[str, npt.NDArray[Any]]) -> Track:
        """A track from ``state()``'s columns; a snapshot without ``code`` has a row per code."""
        used = state["last_t"].size
        state.setdefault("code", np.arange(used, dtype=np.int32))
        track = cls(history, used, np.empty(0, np.int32), **state)
        track.row = np.full(int(track.code.max(initial=-1)) + 1, _NO_ROW, np.int32)
        track.row[track.code] = np.arange(used, dtype=np.int32)
        return track

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """The columns to snapshot, rows in use only."""
        return {name: getattr(self, name)[: self.used] for name in _LAYOUT}

    def rows_of(self, devices: Int32Array) -> Int64Array:
        """Each device code's row; codes without one get new rows."""
        top = int(devices.max(initial=-1)) + 1
        if top > self.row.size:
            self.row = np.r_[self.row, np.full(top - self.row.size, _NO_ROW, np.int32)]
        new = np.unique(devices[self.row[devices] == _NO_ROW])
        if new.size:
            self._reserve(self.used + new.size)
            self.row[new] = np.arange(self.used, self.used + new.size, dtype=np.int32)
            self.code[self.used : self.used + new.size] = new
            self.used += new.size
        return self.row[devices].astype(np.int64)

    def _reserve(self, size: int) -> None:
        capacity = self.last_t.shape[0]
        extra = max(size, capacity + capacity // 4) - capacity  # amortised, little slack
        for name, (fill, dtype) in _LAYOUT.items() if size > capacity else ():
            column = getattr(self, name)
            pad = np.full((extra, *column.shape[1:]), fill, dtype=dtype)
            setattr(self, name, np.concatenate([column, pad]))

    def widen(self, d: Int64Array) -> bool:
        """Make room for one more reading of rows ``d`` (a full ring below ``history`` doubles
        its width); whether it widened."""
        width = self.ring_t.shape[1]
        if width >= self.history or not (self.ring_t[d, 0] != _NEVER).any():
            return False
        extra = min(self.history, 2 * width) - width
        self.ring_t = np.pad(self.ring_t, ((0, 0), (extra, 0)), constant_values=_NEVER)
        self.ring_flag = np.pad(self.ring_flag, ((0, 0), (extra, 0)))
        return True


Revision = tuple[str, Int32Array, Int64Array, UInt8Array]  # field, device, time, new flag


@dataclass(slots=True)
class SequencePass:
    """The sequence tests of one batch on one (kind, field), a rank at a time: every step takes
    at most one reading per device, in time order. ``batch_row`` mirrors the rings of the
    ``touched`` track rows: each entry's row in the batch (-1: from an earlier batch)."""

    track: Track
    spec: FieldQc
    method: SpikeMethod
    name: str
    spike: UInt8Array
    roc: UInt8Array
    flat: UInt8Array
    revised: list[Revision]
    touched: Int64Array
    batch_row: Int64Array = field(init=False)

    def __post_init__(self) -> None:
        self.batch_row = np.full((self.touched.size, self.track.ring_t.shape[1]), -1, np.int64)

    def step(
        self, rows: Int64Array, slot: Int64Array, time_ns: Int64Array, x: Float64Array
    ) -> None:
        """One reading per device: ``rows`` of the batch, ``slot`` the track row of each row."""
        t, d = self.track, slot[rows]
        newer = time_ns[rows] > t.last_t[d]
        for column in (self.spike, self.roc, self.flat):
            column[rows[~newer]] = NOT_EVALUATED
        rows, d = rows[newer], d[newer]
        ts, xs = time_ns[rows], x[rows]
        self.roc[rows] = self._rate(d, ts, xs)
        self.spike[rows] = NOT_EVALUATED  # judged when the next reading arrives
        if self.spec.spike is not None:
            self._judge_previous(d, xs)
        if t.widen(d):
            extra = t.ring_t.shape[1] - self.batch_row.shape[1]
            self.batch_row = np.pad(self.batch_row, ((0, 0), (extra, 0)), constant_values=-1)
        local = np.searchsorted(self.touched, d)
        for ring, at in ((t.ring_t, d), (t.ring_flag, d), (self.batch_row, local)):
            ring[at, :-1] = ring[at, 1:]
        t.ring_t[d, -1], t.ring_flag[d, -1], self.batch_row[local, -1] = ts, 0, rows
        t.prev_x[d], t.last_x[d], t.last_t[d] = t.last_x[d], xs, ts
        self.flat[rows] = PASS if self.spec.flat_line is None else self._flat_line(d, xs)

    def settle(self, final: UInt8Array) -> None:
        """Record the flags the batch's readings are written with."""
        local, column = np.nonzero(self.batch_row >= 0)
        self.track.ring_flag[self.touched[local], column] = final[self.batch_row[local, column]]

    def _rate(self, d: Int64Array, ts: Int64Array, xs: Float64Array) -> UInt8Array:
        flags = np.full(d.size, PASS, dtype=np.uint8)
        if self.spec.rate_of_change is None:
            return flags
        had = self.track.last_t[d] != _NEVER
        seconds = (ts - np.where(had, self.track.last_t[d], 0)) / 1e9
        with np.errstate(invalid="ignore"):
            fast = np.abs(xs - self.track.last_x[d]) / seconds > self.spec.rate_of_change
        flags[had & fast] = SUSPECT
        return flags

    def _judge_previous(self, d: Int64Array, xs: Float64Array) -> None:
        """The spike flag of each device's newest reading, now that its successor is here."""
        t = self.track
        has = ~np.isnan(t.prev_x[d])
        assert self.spec.spike is not None  # noqa: S101 - checked by the caller
        flags = spike_flags(
            t.prev_x[d][has], t.last_x[d][has], xs[has], self.spec.spike, self.method
        )
        self._mark(d[has], np.full(int(has.sum()), -1), flags, self.spike)

    def _flat_line(self, d: Int64Array, xs: Float64Array) -> UInt8Array:
        t = self.track
        assert self.spec.flat_line is not None  # noqa: S101 - checked by the caller
        suspect_s, fail_s, tolerance = self.spec.flat_line
        low, high = np.fmin(t.run_lo[d], xs), np.fmax(t.run_hi[d], xs)
        extend = (t.run_len[d] > 0) & (high - low < tolerance)
        t.run_lo[d], t.run_hi[d] = np.where(extend, low, xs), np.where(extend, high, xs)
        t.run_len[d] = np.where(extend, t.run_len[d] + 1, 1)
        t.run_flagged[d] &= extend
        # ioos_qc: window = threshold // median interval samples before the reading, plus it;
        # at least 3, so shorter runs pass whatever the interval (and skip computing it)
        length = t.run_len[d]
        interval = np.full(d.size, np.nan)
        long = length >= _SHORTEST_FLAT
        interval[long] = _median_interval(t.ring_t[d[long]])
        with np.errstate(invalid="ignore", divide="ignore"):
            need_suspect = np.maximum(np.floor(suspect_s / interval), _SHORTEST_FLAT - 1) + 1
            need_fail = np.maximum(np.floor(fail_s / interval), _SHORTEST_FLAT - 1) + 1
        flags = np.where(length >= need_suspect, SUSPECT, PASS)
        flags = np.where(length >= need_fail, FAIL, flags).astype(np.uint8)
        start = (length >= need_suspect) & ~t.run_flagged[d]
        self._revise_run(d[start], length[start])
        t.run_flagged[d[start]] = True
        return flags

    def _revise_run(self, d: Int64Array, length: Int64Array) -> None:
        """SUSPECT for the earlier members of runs that just became flat lines."""
        width = self.track.ring_t.shape[1]
        columns = np.arange(width - 1)
        member = columns >= (width - np.minimum(length, width))[:, None]
        which, column = np.nonzero(member)
        self._mark(d[which], column, np.full(which.size, SUSPECT, np.uint8), self.flat)

    def _mark(
        self, d: Int64Array, column: Int64Array, flags: UInt8Array, target: UInt8Array
    ) -> None:
        """Combine ``flags`` into ring entries: in this batch into ``target``, else revise."""
        t = self.track
        rows = self.batch_row[np.searchsorted(self.touched, d), column]
        here = rows >= 0
        target[rows[here]] = combine(target[rows[here]], flags[here])
        d, column, flags = d[~here], column[~here], flags[~here]
        old = t.ring_flag[d, column]
        new = combine(old, flags)
        t.ring_flag[d, column] = new
        changed = new != old
        d, column = d[changed], column[changed]
        self.revised.append((self.name, t.code[d], t.ring_t[d, column], new[changed]))


def _median_interval(ring_t: Int64Array) -> Float64Array:
    """Median time between the readings of each ring row, in seconds (NaN: fewer than two)."""
    valid = ring_t[:, :-1] != _NEVER
    return _row_median(
        np.where(valid, (ring_t[:, 1:] - np.where(valid, ring_t[:, :-1], 0)) / 1e9, np.nan)
    )


def _row_median(values: Float64Array) -> Float64Array:
    """Median of each row's non-NaN values; NaN for a row without any."""
    ordered = np.sort(values, axis=1)  # NaN last
    n = (~np.isnan(values)).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.minimum(n // 2, values.shape[1] - 1)[:, None], axis=1)[
        :, 0
    ]
    return np.where(n > 0, (low + high) / 2.0, np.nan)
