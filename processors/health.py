"""Device health per UTC hour (``device_health``, contract §4) and the alerts ``silent``,
``battery_low`` and ``sensor_fault``, from the link data and QC counts of every uplink.

Per device and hour: ``uplinks`` (frame-counter repeats excluded), ``missed`` (frames lost,
from fCnt gaps, counted in the hour of the uplink that reveals the gap), ``rssi_mean``,
``battery_v`` (mean), ``qc_suspect`` / ``qc_fail`` (field values flagged SUSPECT / FAIL) and
``silent``: at some instant of the hour the device had sent nothing for longer than its
threshold, which is ``silent_after`` times its interval *when that silence began* (the lower
quartile of the last 8 gaps up to its uplink before the silence, once it has 4), and at least
``silent_min_s``: after an uplink at ``t`` the device is silent from ``t + threshold`` until
its next uplink (or as far as event time has come), and every hour that stretch touches is
silent. Every device seen is reported every hour from its first uplink on, also hours without
uplinks, up to the newest event time seen.

Frame counters (uplink formats §5.1): ``delta = f_cnt - last``; 0 → a repeat (retransmission,
not counted, no part in gaps); 1..16384 → delta - 1 missed; otherwise a 16-bit rollover when
``last`` is a 16-bit value and ``f_cnt + 65536 - last`` is in 1..16384, else a reset (rejoin,
reboot): the series restarts and nothing is counted missed. ``last`` is the counter of the
previous uplink by time. Unknown counters (KPN SenML, ``-1``) count as uplinks only.

Batch invariance: uplinks are held until their hour is emitted and only then put in time order
(ties by every column) and judged, so every value depends on the uplinks' event times and
fields, never on how they were batched or in which order they arrived. Hours are emitted once,
when the watermark (newest event time minus ``lateness_s``) passes their end; an uplink for an
hour already emitted leaves on the ``late`` output and changes nothing. Alerts are sent at the
first hour of an episode: ``silent`` while consecutive hours are silent; ``battery_low`` from
the hour the mean voltage drops below ``battery_low_v`` until it is back at ``battery_ok_v``;
``sensor_fault`` from the hour where at least ``fault_on`` FAIL values per uplink arrive until
fewer than ``fault_off`` do (hysteresis: one alert per episode, not per uplink).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from ingest.errors import ConfigError
from processors.base import (
    SETTINGS,
    Batch,
    BoolArray,
    Float64Array,
    Int32Array,
    Int64Array,
    Outputs,
    Points,
    alert_points,
)
from processors.episodes import block_starts, last_index, previous
from processors.partials import IntpArray, Partials, group, pack, reduce_rows
from processors.windows import Arrays, EventClock

__all__ = ["HealthConfig", "HealthProcessor", "LinkBatch", "count_missed"]

MAX_FCNT_GAP: Final = 16384  # LoRaWAN 1.0.x MAX_FCNT_GAP (uplink formats §5.1)
_ROLLOVER: Final = 1 << 16  # counters that travel as 16 bits wrap here (FHDR FCnt, 2 bytes)
_HOUR: Final = 3_600 * 10**9
_NEVER: Final = np.iinfo(np.int64).min
_LAST: Final = np.iinfo(np.int64).max
_LONGEST_NS: Final = 2.0**61  # thresholds are capped here (73 years) so t + threshold fits
_GAPS: Final = 8  # recent gaps per device whose lower quartile is its interval
_COLUMNS: Final = ("f_cnt", "rssi", "battery_v", "qc_suspect", "qc_fail")


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Settings of the health processor; thresholds are design choices."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    lateness_s: float = 600.0
    """An hour is written this long after the newest uplink time passed its end."""
    silent_after: float = 3.5
    """Silent: no uplink for this many of the device's intervals (not a whole number, so
    interval jitter cannot decide; at 6 % loss three losses in a row happen 2 in 10^4)."""
    silent_min_s: float = 3600.0
    """Shortest silence reported: shorter ones are ordinary radio loss of fast reporters."""
    default_interval_s: float = 3600.0
    """A device's interval until it has shown its own."""
    battery_low_v: float = 3.2
    """`battery_low` alert below this: a 3.6 V lithium cell's discharge plateau has ended."""
    battery_ok_v: float = 3.3
    """The episode ends above this (hysteresis)."""
    fault_on: float = 0.5
    """`sensor_fault` alert when an hour has this many FAIL values per uplink."""
    fault_off: float = 0.1
    """The episode ends below this."""


@dataclass(frozen=True, slots=True)
class LinkBatch:
    """One row per uplink: link data and how many of its fields QC flagged."""

    device: Int32Array
    time_ns: Int64Array
    f_cnt: Int64Array  # -1: unknown
    rssi: Float64Array  # dBm, best gateway; NaN: unknown
    battery_v: Float64Array  # NaN: not reported
    qc_suspect: Int64Array
    qc_fail: Int64Array

    def batch(self) -> Batch:
        """As the processors' ``Batch`` (what ``HealthProcessor.process`` takes)."""
        values = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in _COLUMNS}
        return Batch(self.device, self.time_ns, values)


def count_missed(last: Int64Array, f_cnt: Int64Array) -> tuple[Int64Array, BoolArray]:
    """Frames lost between counter ``last`` and ``f_cnt`` (-1: unknown), and which are repeats."""
    known = (last >= 0) & (f_cnt >= 0)
    wrapped = f_cnt + _ROLLOVER - last
    rollover = (last < _ROLLOVER) & (f_cnt < last) & (wrapped >= 1) & (wrapped <= MAX_FCNT_GAP)
    delta = np.where(rollover, wrapped, f_cnt - last)
    normal = known & (delta >= 1) & (delta <= MAX_FCNT_GAP)
    return np.where(normal, delta - 1, 0).astype(np.int64), known & (delta == 0)


# Per-device state columns (row = device code), all about the hours emitted so far: fill value
# of an unseen device, dtype.
_LAYOUT: Final = {
    "first_hour": (_NEVER, np.int64),  # start of the hour of its first uplink
    "last_t": (_NEVER, np.int64),  # its newest uplink that is not a repeat
    "last_f": (-1, np.int64),  # the newest known frame counter
    "gaps": (np.nan, np.float64),  # (devices, _GAPS) gaps up to last_t in seconds, oldest first
    "silent": (False, np.bool_),  # state of the last emitted hour
    "battery_low": (False, np.bool_),
    "fault": (False, np.bool_),
}


class HealthProcessor:
    """``device_health`` hours and link alerts; ``process`` takes ``LinkBatch.batch()``."""

    def __init__(self, config: HealthConfig | None = None) -> None:
        self.config = config or HealthConfig()
        _validate(self.config)
        self.clock = EventClock(round(self.config.lateness_s * 1e9), 0)
        self._state: Arrays = {
            name: np.full((0, _GAPS) if name == "gaps" else 0, fill, dtype=dtype)
            for name, (fill, dtype) in _LAYOUT.items()
        }
        self._pending: list[Batch] = []  # uplinks of hours not yet emitted, as they came
        self._earliest = _LAST  # the oldest of them
        self._cursor = _NEVER  # hours before this one have been emitted

    def process(self, batch: Batch) -> Outputs:
        """Hold uplinks of hours not yet emitted, emit the hours the watermark closed."""
        late = batch.time_ns < self._cursor
        kept = _select(batch, ~late)
        if len(kept):
            self._pending.append(kept)
            self._earliest = min(self._earliest, int(kept.time_ns.min()))
        self.clock.observe(batch.time_ns)
        return Outputs(self._emit(), batch.take(late))

    def flush(self, until_ns: int) -> Outputs:
        """Advance the watermark to ``until_ns`` and emit what that closes."""
        self.clock.advance_to(until_ns)
        return Outputs(self._emit(), _concat([]))

    def snapshot(self) -> bytes:
        """The whole state as an ``.npz`` archive."""
        arrays = {**self.clock.state(), "cursor": np.array(self._cursor, dtype=np.int64)}
        pending = _concat(self._pending)
        arrays |= {"pending:device": pending.device, "pending:time_ns": pending.time_ns}
        arrays |= {"pending:" + k: v for k, v in pending.values.items()}
        arrays |= {"device:" + k: v for k, v in self._state.items()}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state with one ``snapshot`` returned."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        wanted = {"cursor", "pending:device", *("device:" + k for k in _LAYOUT)}
        if not wanted <= arrays.keys():
            raise ConfigError(
                "processors.health",
                "the snapshot's state layout differs (taken by another version)",
                "start without the snapshot and run `city-ingest reaggregate` for the open hours",
            )
        self.clock.load(arrays)
        self._cursor = int(arrays["cursor"])
        pending = Batch(
            arrays["pending:device"],
            arrays["pending:time_ns"],
            {k: arrays["pending:" + k] for k in _COLUMNS},
        )
        self._pending = [pending]
        self._earliest = int(pending.time_ns.min(initial=_LAST))
        self._state = {k: arrays["device:" + k] for k in _LAYOUT}

    def _reserve(self, size: int) -> None:
        extra = size - self._state["last_t"].shape[0]
        for name, (fill, dtype) in _LAYOUT.items() if extra > 0 else ():
            column = self._state[name]
            pad = np.full((extra, *column.shape[1:]), fill, dtype=dtype)
            self._state[name] = np.concatenate([column, pad])

    def _emit(self) -> list[Points]:
        """Every known device's hours from the cursor to the watermark (not past the newest
        event time seen)."""
        newest = self.clock.max_event
        if newest == _NEVER:
            return []
        end = min(self.clock.watermark // _HOUR, newest // _HOUR + 1) * _HOUR
        begin = self._earliest // _HOUR * _HOUR if self._cursor == _NEVER else self._cursor
        if end <= begin:
            return []
        pending = _concat(self._pending)
        ready = pending.time_ns < end
        rest = pending.take(~ready)
        self._pending = [rest]
        self._earliest = int(rest.time_ns.min(initial=_LAST))
        self._cursor = end
        return self._report(_ordered(pending.take(ready)), begin, end, newest)

    def _report(self, rows: Batch, begin: int, end: int, newest: int) -> list[Points]:
        s, c = self._state, self.config
        if len(rows):
            self._reserve(int(rows.device.max()) + 1)
        before_last_t = s["last_t"].copy()
        links = self._link(rows)
        known = np.flatnonzero(s["first_hour"] != _NEVER).astype(np.int32)
        grid = _Hours.build(known, np.maximum(s["first_hour"][known], begin), end, links)
        silent = self._silence(grid, links, min(end, newest))
        quiet_s = grid.quiet_s(before_last_t[grid.device], newest)
        with np.errstate(invalid="ignore"):
            ratio = grid.qc_fail / np.maximum(grid.uplinks, 1)
            battery = grid.battery_v
            low, ok = battery < c.battery_low_v, battery >= c.battery_ok_v
            faulty, fine = grid.hit & (ratio >= c.fault_on), grid.hit & (ratio < c.fault_off)
        d, start = grid.device, block_starts(grid.device)
        is_silent, silent_from = _episodes(silent, ~silent, s["silent"][d], start)
        is_low, low_from = _episodes(low, ok, s["battery_low"][d], start)
        is_faulty, fault_from = _episodes(faulty, fine, s["fault"][d], start)
        last = _block_ends(d)
        for name, column in (("silent", is_silent), ("battery_low", is_low), ("fault", is_faulty)):
            s[name][d[last]] = column[last]
        points = [
            grid.points(silent),
            _alerts("silent", grid, silent_from, quiet_s, "no uplink for {:.0f} s"),
            _alerts("battery_low", grid, low_from, battery, "battery at {:.2f} V"),
            _alerts("sensor_fault", grid, fault_from, ratio, "{:.2f} failed values per uplink"),
        ]
        return [p for p in points if len(p)]

    def _silence(self, grid: _Hours, links: _Links, until: int) -> BoolArray:
        """Hours touched by a silence: one that an uplink ended, or the one after each device's
        newest uplink as far as event time has come (``until``)."""
        s, closed = self._state, links.silent
        silent = grid.cover(links.device[closed], links.silent_from, links.time_ns[closed])
        known = grid.device[grid.row]
        tail_from = s["last_t"][known] + _threshold_ns(s["gaps"][known], self.config)
        return silent | grid.cover(known, tail_from, np.full(known.size, until))

    def _link(self, rows: Batch) -> _Links:
        """Frame-counter and gap facts of ``rows`` (sorted by device and time), from the state
        the earlier hours left; the state is moved on past ``rows``."""
        s = self._state
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
        candidate = pushed & (gap_ns > self.config.silent_min_s * 1e9)
        rings, devices, after = _rings(s["gaps"], d, pushed, gap_ns / 1e9, candidate)
        silent_from = np.full(d.size, _LAST)
        silent_from[candidate] = before[candidate] + _threshold_ns(rings, self.config)
        silent = silent_from < t
        end = _block_ends(d)
        newest, counted = last_index(~repeat, start)[end], last_index(f_cnt >= 0, start)[end]
        s["last_t"][devices] = np.where(newest >= 0, t[newest], s["last_t"][devices])
        s["last_f"][devices] = np.where(counted >= 0, f_cnt[counted], s["last_f"][devices])
        s["gaps"][devices] = after
        seen = s["first_hour"][devices]
        s["first_hour"][devices] = np.where(seen == _NEVER, t[start[end]] // _HOUR * _HOUR, seen)
        return _Links(d, t, rows, missed, repeat, gap_ns, silent, silent_from[silent])


@dataclass(frozen=True, slots=True)
class _Links:
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


def _rings(
    gaps: Float64Array, d: Int32Array, pushed: BoolArray, gap_s: Float64Array, wanted: BoolArray
) -> tuple[Float64Array, Int32Array, Float64Array]:
    """The ``_GAPS`` gaps before each ``wanted`` row's own gap, the devices of the rows and their
    gaps after the rows: each device's ring from ``gaps``, then its pushed gaps, laid end to end
    so that a sliding window of ``_GAPS`` never reaches into another device."""
    if not d.size:
        return np.empty((0, _GAPS)), d, np.empty((0, _GAPS))
    first = np.r_[True, d[1:] != d[:-1]]
    devices, block = d[first], np.cumsum(first) - 1
    counts = np.bincount(block, weights=pushed, minlength=devices.size).astype(np.intp)
    offset = np.cumsum(counts + _GAPS) - (counts + _GAPS)
    line = np.empty(int((counts + _GAPS).sum()))
    line[(offset[:, None] + np.arange(_GAPS)).ravel()] = gaps[devices].ravel()
    rank: IntpArray = np.cumsum(pushed) - pushed  # pushed rows before each row
    slot = offset[block] + _GAPS + rank - rank[first][block]
    line[slot[pushed]] = gap_s[pushed]
    window = np.lib.stride_tricks.sliding_window_view(line, _GAPS)
    return window[slot[wanted] - _GAPS], devices, window[offset + counts]


def _threshold_ns(rings: Float64Array, config: HealthConfig) -> Int64Array:
    """Silence thresholds from rings of recent gaps: ``silent_after`` times the lower quartile
    (lost frames make gaps of several intervals, an event uplink one shorter gap), once half a
    ring is known, else the default interval; at least ``silent_min_s``."""
    gaps = np.sort(rings, axis=1)  # NaN last
    known = (~np.isnan(gaps)).sum(axis=1)
    quartile = np.take_along_axis(gaps, np.maximum(known - 1, 0)[:, None] // 4, axis=1)[:, 0]
    interval = np.where(known >= _GAPS // 2, quartile, config.default_interval_s)
    seconds = np.maximum(config.silent_after * interval, config.silent_min_s)
    return np.round(np.minimum(seconds * 1e9, _LONGEST_NS)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Hours:
    """Device x hour rows being emitted (device-major, each device's hours consecutive)."""

    device: Int32Array
    hour: Int64Array
    first: Int64Array  # per device block: its first hour here
    row: IntpArray  # per device block: its first row
    end: int  # every block runs to the hour before this one
    hit: BoolArray  # the hour has uplinks
    uplinks: Int64Array
    missed: Int64Array
    rssi: Float64Array
    battery_v: Float64Array
    qc_suspect: Int64Array
    qc_fail: Int64Array
    gap_ns: Float64Array  # the longest gap that ended in the hour
    last_ns: Float64Array  # the newest uplink (repeats aside) after the hour start

    @classmethod
    def build(cls, known: Int32Array, first: Int64Array, end: int, links: _Links) -> _Hours:
        count = (end - first) // _HOUR
        row = np.r_[0, np.cumsum(count)[:-1]].astype(np.intp)
        device = np.repeat(known, count)
        hour = np.repeat(first, count) + (np.arange(device.size) - np.repeat(row, count)) * _HOUR
        keys, parts = links.hourly()
        wanted = pack(hour // _HOUR, device)
        pos = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
        hit = (keys[pos] == wanted) if keys.size else np.zeros(wanted.size, dtype=np.bool_)

        def take(values: npt.NDArray[Any], absent: float) -> npt.NDArray[Any]:
            return np.where(hit, values[pos] if values.size else absent, absent)

        def mean(name: str) -> Float64Array:
            with np.errstate(invalid="ignore", divide="ignore"):
                return take(parts.total[name] / parts.count[name], np.nan)

        def high(name: str) -> Float64Array:
            return take(np.where(parts.count[name] > 0, parts.high[name], np.nan), np.nan)

        def total(name: str) -> Int64Array:
            return np.round(take(parts.total[name], 0)).astype(np.int64)

        return cls(
            device,
            hour,
            first,
            row,
            end,
            hit,
            take(parts.count["uplinks"], 0).astype(np.int64),
            total("missed"),
            mean("rssi"),
            mean("battery_v"),
            total("qc_suspect"),
            total("qc_fail"),
            high("gap"),
            high("last"),
        )

    def cover(self, device: Int32Array, since: Int64Array, until: Int64Array) -> BoolArray:
        """Rows whose hour overlaps (``since``, ``until``] of their device (a known one)."""
        block = np.searchsorted(self.device[self.row], device)
        first = self.first[block]
        low = np.maximum(since // _HOUR * _HOUR, first)
        high = np.minimum(until // _HOUR * _HOUR, self.end - _HOUR)
        keep = (since < until) & (low <= high)
        marks = np.zeros(self.device.size + 1, dtype=np.int64)
        base = self.row[block][keep]
        np.add.at(marks, base + (low[keep] - first[keep]) // _HOUR, 1)
        np.add.at(marks, base + (high[keep] - first[keep]) // _HOUR + 1, -1)
        covered: BoolArray = np.cumsum(marks[:-1]) > 0
        return covered

    def quiet_s(self, earlier: Int64Array, newest: int) -> Float64Array:
        """The longest time without an uplink seen in each hour, in seconds (``earlier``: the
        device's newest uplink before these hours)."""
        start = block_starts(self.device)
        seen = ~np.isnan(self.last_ns)
        found = last_index(seen, start)
        offset = np.nan_to_num(self.last_ns).astype(np.int64)
        latest = np.where(found >= 0, (self.hour + offset)[np.maximum(found, 0)], earlier)
        horizon = np.minimum(self.hour + _HOUR, newest)
        tail = np.where(latest != _NEVER, (horizon - latest) / 1e9, np.nan)
        return np.fmax(self.gap_ns / 1e9, tail)

    def points(self, silent: BoolArray) -> Points:
        """The ``device_health`` points (contract §4)."""
        return Points(
            "device_health",
            self.device,
            self.hour,
            {
                "uplinks": self.uplinks,
                "missed": self.missed,
                "rssi_mean": self.rssi,
                "battery_v": self.battery_v,
                "silent": silent,
                "qc_suspect": self.qc_suspect,
                "qc_fail": self.qc_fail,
            },
        )


def _episodes(
    enter: BoolArray, leave: BoolArray, before: BoolArray, start: IntpArray
) -> tuple[BoolArray, BoolArray]:
    """A state that turns on at ``enter`` rows and off at ``leave`` rows (else it holds;
    ``before``: each row's state before its block), and the rows where it turns on."""
    decided = last_index(enter | leave, start)
    state = np.where(decided >= 0, enter[np.maximum(decided, 0)], before)
    earlier = np.where(np.arange(state.size) > start, np.r_[False, state[:-1]], before)
    return state, state & ~earlier


def _alerts(kind: str, grid: _Hours, rows: BoolArray, value: Float64Array, text: str) -> Points:
    return alert_points(
        kind, grid.device[rows], grid.hour[rows], value[rows], [text.format(v) for v in value[rows]]
    )


def _block_ends(device: Int32Array) -> BoolArray:
    """The last row of each block (``device`` sorted)."""
    return np.r_[device[1:] != device[:-1], True] if device.size else np.zeros(0, np.bool_)


def _select(batch: Batch, rows: BoolArray) -> Batch:
    """The link columns of the selected rows."""
    values = {name: batch.values[name][rows] for name in _COLUMNS}
    return Batch(batch.device[rows], batch.time_ns[rows], values)


def _concat(batches: list[Batch]) -> Batch:
    """The rows of ``batches`` one after the other (an empty batch for none)."""
    if len(batches) == 1:
        return batches[0]
    return Batch(
        np.concatenate([np.empty(0, np.int32), *(b.device for b in batches)]),
        np.concatenate([np.empty(0, np.int64), *(b.time_ns for b in batches)]),
        {n: np.concatenate([np.empty(0), *(b.values[n] for b in batches)]) for n in _COLUMNS},
    )


def _ordered(rows: Batch) -> Batch:
    """By device and time, ties by every other column: one order whatever the arrival order."""
    keys: list[npt.NDArray[Any]] = [rows.values[name] for name in reversed(_COLUMNS)]
    return rows.take(np.lexsort([*keys, rows.time_ns, rows.device]))


def _validate(config: HealthConfig) -> None:
    checks = {
        "battery_ok_v": config.battery_low_v <= config.battery_ok_v,
        "fault_off": 0 <= config.fault_off <= config.fault_on,
        "silent_after": config.silent_after > 0 and config.silent_min_s >= 0,
        "default_interval_s": config.default_interval_s > 0,
        "lateness_s": config.lateness_s >= 0,
    }
    for key, ok in checks.items():
        if not ok:
            raise ConfigError(
                f"processors.health.{key}",
                "is out of range",
                "keep battery_low_v <= battery_ok_v, 0 <= fault_off <= fault_on, "
                "silent_after, default_interval_s > 0, silent_min_s and lateness_s >= 0",
            )
