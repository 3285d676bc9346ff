"""The device x hour grid of the health processor's ``device_health`` rows (contract §4).

Every device seen is reported every hour from its first uplink on, also hours without
uplinks; the grid holds those rows with the hourly aggregates of the uplinks in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from processors.base import BoolArray, Float64Array, Int32Array, Int64Array, Points
from processors.episodes import block_starts, last_index
from processors.links import Links
from processors.partials import IntpArray, pack

__all__ = ["HourGrid"]

_HOUR: Final = 3_600 * 10**9
_NEVER: Final = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class HourGrid:
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
    def build(cls, known: Int32Array, first: Int64Array, end: int, links: Links) -> HourGrid:
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
