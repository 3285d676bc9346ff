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

Frame counters and silence thresholds: ``processors.links``; the hour rows:
``processors.hours``.

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
from processors.episodes import block_starts, last_index
from processors.hours import HourGrid
from processors.links import (
    GAPS,
    Links,
    block_ends,
    count_missed,
    follow_links,
    silence_threshold_ns,
)
from processors.partials import IntpArray
from processors.windows import Arrays, EventClock

__all__ = ["HealthConfig", "HealthProcessor", "LinkBatch", "count_missed"]

_HOUR: Final = 3_600 * 10**9
_NEVER: Final = np.iinfo(np.int64).min
_LAST: Final = np.iinfo(np.int64).max
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


# Per-device state columns (row = device code), all about the hours emitted so far: fill value
# of an unseen device, dtype.
_LAYOUT: Final = {
    "first_hour": (_NEVER, np.int64),  # start of the hour of its first uplink
    "last_t": (_NEVER, np.int64),  # its newest uplink that is not a repeat
    "last_f": (-1, np.int64),  # the newest known frame counter
    "gaps": (np.nan, np.float64),  # (devices, GAPS) gaps up to last_t in seconds, oldest first
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
            name: np.full((0, GAPS) if name == "gaps" else 0, fill, dtype=dtype)
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
        links = follow_links(self._state, rows, self.config)
        known = np.flatnonzero(s["first_hour"] != _NEVER).astype(np.int32)
        grid = HourGrid.build(known, np.maximum(s["first_hour"][known], begin), end, links)
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
        last = block_ends(d)
        for name, column in (("silent", is_silent), ("battery_low", is_low), ("fault", is_faulty)):
            s[name][d[last]] = column[last]
        points = [
            grid.points(silent),
            _alerts("silent", grid, silent_from, quiet_s, "no uplink for {:.0f} s"),
            _alerts("battery_low", grid, low_from, battery, "battery at {:.2f} V"),
            _alerts("sensor_fault", grid, fault_from, ratio, "{:.2f} failed values per uplink"),
        ]
        return [p for p in points if len(p)]

    def _silence(self, grid: HourGrid, links: Links, until: int) -> BoolArray:
        """Hours touched by a silence: one that an uplink ended, or the one after each device's
        newest uplink as far as event time has come (``until``)."""
        s, closed = self._state, links.silent
        silent = grid.cover(links.device[closed], links.silent_from, links.time_ns[closed])
        known = grid.device[grid.row]
        tail_from = s["last_t"][known] + silence_threshold_ns(s["gaps"][known], self.config)
        return silent | grid.cover(known, tail_from, np.full(known.size, until))


def _episodes(
    enter: BoolArray, leave: BoolArray, before: BoolArray, start: IntpArray
) -> tuple[BoolArray, BoolArray]:
    """A state that turns on at ``enter`` rows and off at ``leave`` rows (else it holds;
    ``before``: each row's state before its block), and the rows where it turns on."""
    decided = last_index(enter | leave, start)
    state = np.where(decided >= 0, enter[np.maximum(decided, 0)], before)
    earlier = np.where(np.arange(state.size) > start, np.r_[False, state[:-1]], before)
    return state, state & ~earlier


def _alerts(kind: str, grid: HourGrid, rows: BoolArray, value: Float64Array, text: str) -> Points:
    return alert_points(
        kind, grid.device[rows], grid.hour[rows], value[rows], [text.format(v) for v in value[rows]]
    )


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
