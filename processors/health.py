"""Device health per UTC hour (``device_health``, contract §4) and the alerts ``silent``,
``battery_low`` and ``sensor_fault``, from the link data and QC counts of every uplink.

Per device and hour: ``uplinks`` (frame-counter repeats excluded), ``missed`` (frames lost,
from fCnt gaps, counted in the hour of the uplink that reveals the gap), ``rssi_mean``,
``battery_v`` (mean), ``qc_suspect`` / ``qc_fail`` (field values flagged SUSPECT / FAIL) and
``silent``: at some instant of the hour the device had sent nothing for ``silent_after`` times
its interval (lower quartile of its last 8 gaps, once it has 4), and at least ``silent_min_s``.
Every device seen is reported every hour from its first uplink on, also hours without uplinks,
up to the newest event time seen.

Frame counters (uplink formats §5.1): ``delta = f_cnt - last``; 0 → a repeat (retransmission,
not counted); 1..16384 → delta - 1 missed; otherwise a 16-bit rollover when ``last`` is a
16-bit value and ``f_cnt + 65536 - last`` is in 1..16384, else a reset (rejoin, reboot): the
series restarts and nothing is counted missed. ``last`` is the counter of the device's newest
uplink by time: an uplink older than that (out of order, a replay) counts as an uplink and takes
no part in gaps. Unknown counters (KPN SenML, ``-1``) count as uplinks only.

Hours are emitted once, when the watermark (newest event time minus ``lateness_s``) passes their
end; an uplink for an hour already emitted leaves on the ``late`` output. Alerts are sent at the
first hour of an episode: ``silent`` while consecutive hours are silent; ``battery_low`` from the
hour the mean voltage drops below ``battery_low_v`` until it is back at ``battery_ok_v``;
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
from processors.partials import group, pack, reduce_rows, unpack
from processors.windows import Arrays, Closed, EventClock, WindowStore

__all__ = ["HealthConfig", "HealthProcessor", "LinkBatch", "count_missed"]

MAX_FCNT_GAP: Final = 16384  # LoRaWAN 1.0.x MAX_FCNT_GAP (uplink formats §5.1)
_ROLLOVER: Final = 1 << 16  # counters that travel as 16 bits wrap here (FHDR FCnt, 2 bytes)
_HOUR: Final = 3_600 * 10**9
_NEVER: Final = np.iinfo(np.int64).min
_GAPS: Final = 8  # recent gaps per device whose median is its interval
# per (device, hour): uplinks (count), missed (sum), rssi and battery_v (mean), qc_* (sum),
# gap (longest silence before an uplink, s) and last (newest uplink, s after the hour start)
_FIELDS: Final = ("uplinks", "missed", "rssi", "battery_v", "qc_suspect", "qc_fail", "gap", "last")


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Settings of the health processor; thresholds are design choices."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = {
        "extra": "forbid",
        "use_attribute_docstrings": True,
    }

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
        columns = ("f_cnt", "rssi", "battery_v", "qc_suspect", "qc_fail")
        values = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in columns}
        return Batch(self.device, self.time_ns, values)


def count_missed(last: Int64Array, f_cnt: Int64Array) -> tuple[Int64Array, BoolArray]:
    """Frames lost between counter ``last`` and ``f_cnt`` (-1: unknown), and which are repeats."""
    known = (last >= 0) & (f_cnt >= 0)
    wrapped = f_cnt + _ROLLOVER - last
    rollover = (last < _ROLLOVER) & (f_cnt < last) & (wrapped >= 1) & (wrapped <= MAX_FCNT_GAP)
    delta = np.where(rollover, wrapped, f_cnt - last)
    normal = known & (delta >= 1) & (delta <= MAX_FCNT_GAP)
    return np.where(normal, delta - 1, 0).astype(np.int64), known & (delta == 0)


# Per-device state columns (row = device code): fill value of an unseen device, dtype.
_LAYOUT: Final = {
    "first_hour": (_NEVER, np.int64),  # start of the hour of its first uplink
    "last_t": (_NEVER, np.int64),  # its newest uplink by time
    "last_f": (-1, np.int64),  # that uplink's frame counter
    "gaps": (np.nan, np.float64),  # (devices, _GAPS) recent gaps in seconds, oldest first
    "reported_last": (_NEVER, np.int64),  # newest uplink in the hours emitted so far
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
        self._store = WindowStore(_FIELDS)
        self._state: Arrays = {
            name: np.full((0, _GAPS) if name == "gaps" else 0, fill, dtype=dtype)
            for name, (fill, dtype) in _LAYOUT.items()
        }
        self._cursor = _NEVER  # hours before this one have been emitted

    def process(self, batch: Batch) -> Outputs:
        """Fold uplinks of hours not yet emitted, emit the hours the watermark closed."""
        late = batch.time_ns < self._cursor
        if (~late).any():
            self._fold(batch.take(~late))
        self.clock.observe(batch.time_ns)
        return Outputs(self._emit(), batch.take(late))

    def flush(self, until_ns: int) -> Outputs:
        """Advance the watermark to ``until_ns`` and emit what that closes."""
        self.clock.advance_to(until_ns)
        return Outputs(self._emit(), Batch(np.empty(0, np.int32), np.empty(0, np.int64), {}))

    def snapshot(self) -> bytes:
        """The whole state as an ``.npz`` archive."""
        arrays = {**self.clock.state(), "cursor": np.array(self._cursor, dtype=np.int64)}
        arrays.update({"store:" + k: v for k, v in self._store.state().items()})
        arrays.update({"device:" + k: v for k, v in self._state.items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state with one ``snapshot`` returned."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        self.clock.load(arrays)
        self._cursor = int(arrays["cursor"])
        self._store.load({k[6:]: v for k, v in arrays.items() if k.startswith("store:")})
        self._state = {k[7:]: v for k, v in arrays.items() if k.startswith("device:")}

    def _reserve(self, size: int) -> None:
        extra = size - self._state["last_t"].shape[0]
        for name, (fill, dtype) in _LAYOUT.items() if extra > 0 else ():
            column = self._state[name]
            pad = np.full((extra, *column.shape[1:]), fill, dtype=dtype)
            self._state[name] = np.concatenate([column, pad])

    def _interval_s(self, device: Int32Array) -> Float64Array:
        """The lower quartile of the device's recent gaps, once it has shown half a ring of them:
        lost frames make gaps of several intervals, an event uplink one shorter gap."""
        gaps = np.sort(self._state["gaps"][device], axis=1)  # NaN last
        known = (~np.isnan(gaps)).sum(axis=1)
        quartile = np.take_along_axis(gaps, np.maximum(known - 1, 0)[:, None] // 4, axis=1)[:, 0]
        return np.where(known >= _GAPS // 2, quartile, self.config.default_interval_s)

    def _fold(self, batch: Batch) -> None:
        self._reserve(int(batch.device.max()) + 1)
        s = self._state
        order = np.lexsort((batch.time_ns, batch.device))
        d, t = batch.device[order], batch.time_ns[order]
        start = block_starts(d)
        old = t <= s["last_t"][d]  # out of order: no part in counters and gaps
        f_cnt = np.nan_to_num(batch.values["f_cnt"][order], nan=-1.0).astype(np.int64)
        f_cnt[old] = -1
        prior = previous(last_index(f_cnt >= 0, start), start)
        last_f = np.where(prior >= 0, f_cnt[np.maximum(prior, 0)], s["last_f"][d])
        missed, repeat = count_missed(last_f, f_cnt)
        chain = ~old & ~repeat
        prior = previous(last_index(chain, start), start)
        before = np.where(prior >= 0, t[np.maximum(prior, 0)], s["last_t"][d])
        known = chain & (before != _NEVER)
        gap_s = np.where(known, (t - np.where(known, before, 0)) / 1e9, np.nan)
        hour = t // _HOUR
        keys, index = group(hour, d)
        column = {name: batch.values[name][order] for name in ("rssi", "battery_v")}
        column |= {n: np.nan_to_num(batch.values[n][order]) for n in ("qc_suspect", "qc_fail")}
        column |= {
            "uplinks": np.where(repeat, np.nan, 1.0),
            "missed": missed.astype(np.float64),
            "gap": gap_s,
            "last": (t - hour * _HOUR) / 1e9,
        }
        window, _ = unpack(keys)
        self._store.fold(
            keys, window * _HOUR, (window + 1) * _HOUR, reduce_rows(index, keys.size, column)
        )
        self._remember(d, t=t, f_cnt=f_cnt, chain=chain, gap_s=gap_s, start=start)

    def _remember(
        self,
        d: Int32Array,
        *,
        t: Int64Array,
        f_cnt: Int64Array,
        chain: BoolArray,
        gap_s: Float64Array,
        start: npt.NDArray[np.intp],
    ) -> None:
        s = self._state
        end = np.r_[d[1:] != d[:-1], True]
        newest = last_index(chain, start)[end]
        counted = last_index(f_cnt >= 0, start)[end]
        devices = d[end]
        s["last_t"][devices] = np.where(newest >= 0, t[newest], s["last_t"][devices])
        s["last_f"][devices] = np.where(counted >= 0, f_cnt[counted], s["last_f"][devices])
        first = t[start[end]] // _HOUR * _HOUR
        seen = s["first_hour"][devices]
        s["first_hour"][devices] = np.where(seen == _NEVER, first, np.minimum(seen, first))
        pushed = np.flatnonzero(~np.isnan(gap_s))
        rank = np.arange(pushed.size) - block_starts(d[pushed])
        for r in range(int(rank.max(initial=-1)) + 1):
            rows = pushed[rank == r]
            s["gaps"][d[rows], :-1] = s["gaps"][d[rows], 1:]
            s["gaps"][d[rows], -1] = gap_s[rows]

    def _emit(self) -> list[Points]:
        """Every known device's hours from the cursor to the watermark (not past the newest
        event time seen)."""
        newest = self.clock.max_event
        known = np.flatnonzero(self._state["first_hour"] != _NEVER).astype(np.int32)
        if newest == _NEVER or not known.size:
            return []
        if self._cursor == _NEVER:
            self._cursor = int(self._state["first_hour"][known].min())
        end = min(self.clock.watermark // _HOUR, newest // _HOUR + 1) * _HOUR
        if end <= self._cursor:
            return []
        hours = np.arange(self._cursor, end, _HOUR, dtype=np.int64)
        device = np.repeat(known, hours.size)
        hour = np.tile(hours, known.size)
        keep = hour >= self._state["first_hour"][device]
        grid = _Grid.build(device[keep], hour[keep], self._store.take_closed(end))
        self._store.expire(end)
        self._cursor = end
        return self._report(grid, newest)

    def _report(self, grid: _Grid, newest: int) -> list[Points]:
        s, c = self._state, self.config
        d, start = grid.device, block_starts(grid.device)
        alive = grid.hit
        offset = np.round(np.nan_to_num(grid.last_s) * 1e9).astype(np.int64)
        last = np.where(alive, grid.hour + offset, _NEVER)
        found = last_index(alive, start)
        latest = np.where(found >= 0, last[np.maximum(found, 0)], s["reported_last"][d])
        horizon = np.minimum(grid.hour + _HOUR, newest)
        threshold_s = np.maximum(c.silent_after * self._interval_s(d), c.silent_min_s)
        with np.errstate(invalid="ignore"):
            tail_s = np.where(latest != _NEVER, (horizon - latest) / 1e9, np.nan)
            quiet_s = np.fmax(grid.gap_s, tail_s)
            silent = quiet_s > threshold_s
            ratio = grid.qc_fail / np.maximum(grid.uplinks, 1)
            battery = grid.battery_v
            low, ok = battery < c.battery_low_v, battery >= c.battery_ok_v
            faulty, fine = alive & (ratio >= c.fault_on), alive & (ratio < c.fault_off)
        is_silent, silent_from = _episodes(silent, ~silent, s["silent"][d], start)
        is_low, low_from = _episodes(low, ok, s["battery_low"][d], start)
        is_faulty, fault_from = _episodes(faulty, fine, s["fault"][d], start)
        end = np.r_[d[1:] != d[:-1], True]
        for name, column in (("silent", is_silent), ("battery_low", is_low), ("fault", is_faulty)):
            s[name][d[end]] = column[end]
        s["reported_last"][d[end]] = latest[end]
        points = [
            grid.points(silent),
            _alerts("silent", grid, silent_from, quiet_s, "no uplink for {:.0f} s"),
            _alerts("battery_low", grid, low_from, battery, "battery at {:.2f} V"),
            _alerts("sensor_fault", grid, fault_from, ratio, "{:.2f} failed values per uplink"),
        ]
        return [p for p in points if len(p)]


@dataclass(frozen=True, slots=True)
class _Grid:
    """Device x hour rows being emitted (device-major), with their closed windows' values."""

    device: Int32Array
    hour: Int64Array
    hit: BoolArray  # the hour has uplinks
    uplinks: Int64Array
    missed: Int64Array
    rssi: Float64Array
    battery_v: Float64Array
    qc_suspect: Int64Array
    qc_fail: Int64Array
    gap_s: Float64Array
    last_s: Float64Array

    @classmethod
    def build(cls, device: Int32Array, hour: Int64Array, closed: Closed) -> _Grid:
        keys = pack(closed.window, closed.device)
        wanted = pack(hour // _HOUR, device)
        pos = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
        hit = (keys[pos] == wanted) if keys.size else np.zeros(wanted.size, dtype=np.bool_)

        def take(values: npt.NDArray[Any], absent: float) -> npt.NDArray[Any]:
            return np.where(hit, values[pos] if values.size else absent, absent)

        return cls(
            device,
            hour,
            hit,
            take(closed.count("uplinks"), 0).astype(np.int64),
            np.round(take(closed.total("missed"), 0)).astype(np.int64),
            take(closed.mean("rssi"), np.nan),
            take(closed.mean("battery_v"), np.nan),
            np.round(take(closed.total("qc_suspect"), 0)).astype(np.int64),
            np.round(take(closed.total("qc_fail"), 0)).astype(np.int64),
            take(closed.high("gap"), np.nan),
            take(closed.high("last"), np.nan),
        )

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
    enter: BoolArray, leave: BoolArray, before: BoolArray, start: npt.NDArray[np.intp]
) -> tuple[BoolArray, BoolArray]:
    """A state that turns on at ``enter`` rows and off at ``leave`` rows (else it holds;
    ``before``: each row's state before its block), and the rows where it turns on."""
    decided = last_index(enter | leave, start)
    state = np.where(decided >= 0, enter[np.maximum(decided, 0)], before)
    earlier = np.where(np.arange(state.size) > start, np.r_[False, state[:-1]], before)
    return state, state & ~earlier


def _alerts(kind: str, grid: _Grid, rows: BoolArray, value: Float64Array, text: str) -> Points:
    return alert_points(
        kind, grid.device[rows], grid.hour[rows], value[rows], [text.format(v) for v in value[rows]]
    )


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
