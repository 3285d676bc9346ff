"""The link facts of a device's uplinks: frame counters, gaps between uplinks and the silence
thresholds the health processor (``processors.health``) judges them by.

Frame counters (uplink formats §5.1): ``delta = f_cnt - last``; 0 → a repeat (retransmission,
not counted, no part in gaps); 1..16384 → delta - 1 missed; otherwise a 16-bit rollover when
``last`` is a 16-bit value and ``f_cnt + 65536 - last`` is in 1..16384, else a reset (rejoin,
reboot): the series restarts and nothing is counted missed. ``last`` is the counter of the
previous uplink by time. Unknown counters (KPN SenML, ``-1``) count as uplinks only.

Silence threshold: ``silent_after`` times the device's interval *when the silence began* (the
lower quartile of the last ``GAPS`` gaps up to its uplink before the silence, once it has half
of them), and at least ``silent_min_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from processors.base import Batch, BoolArray, Float64Array, Int32Array, Int64Array
from processors.episodes import block_starts, last_index, previous
from processors.partials import IntpArray, Partials, group, reduce_rows
from processors.windows import Arrays

__all__ = [
    "GAPS",
    "MAX_FCNT_GAP",
    "Links",
    "SilenceRule",
    "block_ends",
    "count_missed",
    "follow_links",
    "silence_threshold_ns",
]

MAX_FCNT_GAP: Final = 16384  # LoRaWAN 1.0.x MAX_FCNT_GAP (uplink formats §5.1)
_ROLLOVER: Final = 1 << 16  # counters that travel as 16 bits wrap here (FHDR FCnt, 2 bytes)
_HOUR: Final = 3_600 * 10**9
_NEVER: Final = np.iinfo(np.int64).min
_LAST: Final = np.iinfo(np.int64).max
_LONGEST_NS: Final = 2.0**61  # thresholds are capped here (73 years) so t + threshold fits
GAPS: Final = 8  # recent gaps per device whose lower quartile is its interval


class SilenceRule(Protocol):
    """The settings a silence threshold depends on (``HealthConfig`` has them)."""

    @property
    def silent_after(self) -> float: ...
    @property
    def silent_min_s(self) -> float: ...
    @property
    def default_interval_s(self) -> float: ...


def count_missed(last: Int64Array, f_cnt: Int64Array) -> tuple[Int64Array, BoolArray]:
    """Frames lost between counter ``last`` and ``f_cnt`` (-1: unknown), and which are repeats."""
    known = (last >= 0) & (f_cnt >= 0)
    wrapped = f_cnt + _ROLLOVER - last
    rollover = (last < _ROLLOVER) & (f_cnt < last) & (wrapped >= 1) & (wrapped <= MAX_FCNT_GAP)
    delta = np.where(rollover, wrapped, f_cnt - last)
    normal = known & (delta >= 1) & (delta <= MAX_FCNT_GAP)
    return np.where(normal, delta - 1, 0).astype(np.int64), known & (delta == 0)


@dataclass(frozen=True, slots=True)
class Links:
    """The uplinks of the hours being emitted, sorted by (device, time), with their facts."""

    device: Int32Array
    time_ns: Int64Array
    rows: Batch
    missed: Int64Array
    repeat: BoolArray
    gap_ns: Int64Array  # since the previous uplink (repeats aside); -1: a repeat or first uplink
    silent: BoolArray  # the gap before the uplink holds a silence
    silent_from: Int64Array  # where it starts (for the ``silent`` rows)

    def hourly(self) -> tuple[Int64Array, Partials]:
        """Sorted (hour, device) keys and their aggregates."""
        start = self.time_ns // _HOUR
        keys, index = group(start, self.device)
        columns = {name: self.rows.values[name] for name in ("rssi", "battery_v")}
        columns |= {n: np.nan_to_num(self.rows.values[n]) for n in ("qc_suspect", "qc_fail")}
        columns |= {
            "uplinks": np.where(self.repeat, np.nan, 1.0),
            "missed": self.missed.astype(np.float64),
            "gap": np.where(self.gap_ns >= 0, self.gap_ns, np.nan).astype(np.float64),
            "last": np.where(self.repeat, np.nan, self.time_ns - start * _HOUR),
        }
        return keys, reduce_rows(index, keys.size, columns)


def follow_links(state: Arrays, rows: Batch, rule: SilenceRule) -> Links:
    """Frame-counter and gap facts of ``rows`` (sorted by device and time), from the per-device
    ``state`` the earlier hours left (``last_t``, ``last_f``, ``gaps``, ``first_hour``); the
    state is moved on past ``rows``."""
    s = state
    d, t = rows.device, rows.time_ns
    start = block_starts(d)
    f_cnt = np.nan_to_num(rows.values["f_cnt"], nan=-1.0).astype(np.int64)
    prior = previous(last_index(f_cnt >= 0, start), start)
    missed, repeat = count_missed(
        np.where(prior >= 0, f_cnt[np.maximum(prior, 0)], s["last_f"][d]), f_cnt
    )
    prior = previous(last_index(~repeat, start), start)
    before = np.where(prior >= 0, t[np.maximum(prior, 0)], s["last_t"][d])
    pushed = ~repeat & (before != _NEVER)  # a gap since the previous uplink
    gap_ns = np.where(pushed, t - np.where(pushed, before, 0), -1)
    # only a gap longer than silent_min_s can be a silence: thresholds for those alone
    candidate = pushed & (gap_ns > rule.silent_min_s * 1e9)
    rings, devices, after = _rings(s["gaps"], d, pushed, gap_ns / 1e9, candidate)
    silent_from = np.full(d.size, _LAST)
    silent_from[candidate] = before[candidate] + silence_threshold_ns(rings, rule)
    silent = silent_from < t
    end = block_ends(d)
    newest, counted = last_index(~repeat, start)[end], last_index(f_cnt >= 0, start)[end]
    s["last_t"][devices] = np.where(newest >= 0, t[newest], s["last_t"][devices])
    s["last_f"][devices] = np.where(counted >= 0, f_cnt[counted], s["last_f"][devices])
    s["gaps"][devices] = after
    seen = s["first_hour"][devices]
    s["first_hour"][devices] = np.where(seen == _NEVER, t[start[end]] // _HOUR * _HOUR, seen)
    return Links(d, t, rows, missed, repeat, gap_ns, silent, silent_from[silent])


def _rings(
    gaps: Float64Array, d: Int32Array, pushed: BoolArray, gap_s: Float64Array, wanted: BoolArray
) -> tuple[Float64Array, Int32Array, Float64Array]:
    """The ``GAPS`` gaps before each ``wanted`` row's own gap, the devices of the rows and their
    gaps after the rows: each device's ring from ``gaps``, then its pushed gaps, laid end to end
    so that a sliding window of ``GAPS`` never reaches into another device."""
    if not d.size:
        return np.empty((0, GAPS)), d, np.empty((0, GAPS))
    first = np.r_[True, d[1:] != d[:-1]]
    devices, block = d[first], np.cumsum(first) - 1
    counts = np.bincount(block, weights=pushed, minlength=devices.size).astype(np.intp)
    offset = np.cumsum(counts + GAPS) - (counts + GAPS)
    line = np.empty(int((counts + GAPS).sum()))
    line[(offset[:, None] + np.arange(GAPS)).ravel()] = gaps[devices].ravel()
    rank: IntpArray = np.cumsum(pushed) - pushed  # pushed rows before each row
    slot = offset[block] + GAPS + rank - rank[first][block]
    line[slot[pushed]] = gap_s[pushed]
    window = np.lib.stride_tricks.sliding_window_view(line, GAPS)
    return window[slot[wanted] - GAPS], devices, window[offset + counts]


def silence_threshold_ns(rings: Float64Array, rule: SilenceRule) -> Int64Array:
    """Silence thresholds from rings of recent gaps: ``silent_after`` times the lower quartile
    (lost frames make gaps of several intervals, an event uplink one shorter gap), once half a
    ring is known, else the default interval; at least ``silent_min_s``."""
    gaps = np.sort(rings, axis=1)  # NaN last
    known = (~np.isnan(gaps)).sum(axis=1)
    quartile = np.take_along_axis(gaps, np.maximum(known - 1, 0)[:, None] // 4, axis=1)[:, 0]
    interval = np.where(known >= GAPS // 2, quartile, rule.default_interval_s)
    seconds = np.maximum(rule.silent_after * interval, rule.silent_min_s)
    return np.round(np.minimum(seconds * 1e9, _LONGEST_NS)).astype(np.int64)


def block_ends(device: Int32Array) -> BoolArray:
    """The last row of each block (``device`` sorted)."""
    return np.r_[device[1:] != device[:-1], True] if device.size else np.zeros(0, np.bool_)
