"""What the waste processor derives from bin readings: hours, emptyings, rates, alerts.

All functions take ``Readings`` sorted by (device, time) and work on whole arrays; see
``processors.waste`` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from processors.base import (
    BoolArray,
    Float64Array,
    Int32Array,
    Int64Array,
    Points,
    alert_points,
)
from processors.episodes import block_starts, episode_starts, last_index, unalerted
from processors.history import Readings
from processors.partials import IntpArray
from processors.stage import seconds_to_ns
from processors.trend import theil_sen

if TYPE_CHECKING:
    from processors.waste import WasteConfig

__all__ = ["Hours", "derive_hours", "fire_alerts", "hour_alerts", "hour_points"]

_HOUR_NS: Final = 3_600 * 10**9
_FULL: Final = 100.0


@dataclass(frozen=True, slots=True)
class Hours:
    """One row per (device, UTC hour) that has readings."""

    of_reading: IntpArray  # hour row of each reading
    device: Int32Array
    start: Int64Array
    has_fill: BoolArray
    fill: Float64Array
    emptied: Int64Array
    rate: Float64Array  # pp/h
    to_full: Float64Array  # hours
    full: BoolArray  # bin_full condition

    def any_of(self, reading_mask: BoolArray) -> BoolArray:
        """Hours holding at least one reading where ``reading_mask`` is set."""
        hits = np.bincount(self.of_reading[reading_mask], minlength=self.device.size)
        return hits > 0


def derive_hours(readings: Readings, config: WasteConfig, due_ns: Int64Array) -> Hours:
    """Fill, emptyings, rate and the bin_full condition of every hour with readings.

    Rates come from the readings' cache where the hour has no pending reading, and are computed
    only where they matter otherwise: for hours at most ``rearm_s`` before the first hour due for
    emission (``due_ns``, per reading), as bin_full episodes look back that far. Fresh rates
    are written to the cache (``readings.rate``).
    """
    hour = readings.time_ns // _HOUR_NS
    first = np.r_[True, (np.diff(hour) != 0) | (np.diff(readings.device) != 0)]
    of_reading = (np.cumsum(first) - 1).astype(np.intp)
    size = int(first.sum())
    fills = _Fills.of(readings, config)
    last = np.full(size, -1, dtype=np.intp)
    np.maximum.at(last, of_reading[fills.rows], np.arange(fills.rows.size))
    has_fill = last >= 0
    hour_fill = np.where(
        has_fill, fills.fill[np.maximum(last, 0)] if fills.rows.size else 0, np.nan
    )
    start = hour[first] * _HOUR_NS
    pending = np.bincount(of_reading, weights=readings.pending, minlength=size) > 0
    wanted = has_fill & (start >= due_ns[first] - seconds_to_ns(config.rearm_s))
    rate = _cached_rates(readings, fills, last, wanted & pending, config)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_full = np.where(rate > 0, np.maximum(_FULL - hour_fill, 0.0) / rate, np.nan)
    full = has_fill & ((hour_fill >= config.full_pct) | (to_full <= config.collection_horizon_h))
    emptied = np.bincount(of_reading[fills.rows], weights=fills.emptied, minlength=size)
    return Hours(
        of_reading,
        readings.device[first],
        start,
        has_fill,
        hour_fill,
        emptied.astype(np.int64),
        rate,
        to_full,
        full,
    )


@dataclass(frozen=True, slots=True)
class _Fills:
    """The readings with a valid fill, and what is known per fill reading."""

    rows: IntpArray  # rows of the readings
    fill: Float64Array
    series: IntpArray  # index of the first fill reading of the same bin
    emptied: BoolArray  # a confirmed emptying at this reading
    elapsed: Float64Array  # ns since the first reading (whole numbers, exact in float64)

    @classmethod
    def of(cls, readings: Readings, config: WasteConfig) -> _Fills:
        rows = np.flatnonzero(~np.isnan(readings.fill))
        fill = readings.fill[rows]
        series = block_starts(readings.device[rows])
        elapsed = (readings.time_ns[rows] - readings.time_ns.min(initial=0)).astype(np.float64)
        return cls(rows, fill, series, _emptyings(fill, series, config), elapsed)


def _cached_rates(
    readings: Readings, fills: _Fills, last: IntpArray, fresh: BoolArray, config: WasteConfig
) -> Float64Array:
    """Each hour's rate: computed where ``fresh``, else from the cache at its last reading."""
    at = fills.rows[np.maximum(last, 0)] if fills.rows.size else np.zeros(last.size, np.intp)
    rate = np.where(last >= 0, readings.rate[at], np.nan)
    since = np.maximum(last_index(fills.emptied, fills.series), fills.series)
    rate[fresh] = _rates(fills.elapsed, fills.fill, last[fresh], since, config)
    readings.rate[at[fresh]] = rate[fresh]
    return rate


def _emptyings(fill: Float64Array, series: IntpArray, config: WasteConfig) -> BoolArray:
    """Confirmed emptyings: a big drop to a low level that the next reading confirms."""
    index = np.arange(fill.size)
    same_next = np.r_[series[1:] == series[:-1], False] if fill.size else np.zeros(0, bool)
    before = np.r_[np.nan, fill[:-1]] if fill.size else fill
    after = np.r_[fill[1:], np.nan] if fill.size else fill
    drop = config.emptying_drop_pp
    candidate = (index > series) & (before - fill >= drop) & (fill < config.emptied_below_pct)
    return candidate & same_next & (before - after >= drop)


def _rates(
    elapsed: Float64Array, fill: Float64Array, last: IntpArray, since: IntpArray, cfg: WasteConfig
) -> Float64Array:
    """Theil–Sen fill rate (pp/h) at each ``last`` reading, over its points since an emptying.

    ``elapsed`` is in ns (whole numbers, exact in float64).
    """
    m = cfg.rate_points
    point = last[:, None] - m + 1 + np.arange(m)[None, :]
    inside = point >= since[last][:, None]
    safe = np.maximum(point, 0)
    recent = elapsed[safe] >= (elapsed[last] - seconds_to_ns(cfg.rate_lookback_s))[:, None]
    return theil_sen(elapsed, fill, last, inside & recent) * _HOUR_NS


def fire_alerts(
    readings: Readings, config: WasteConfig, changed: BoolArray
) -> tuple[Points, BoolArray]:
    """New ``fire`` alerts (at ``changed`` readings only) and the updated ``fire_alerted``."""
    rows = np.flatnonzero(~np.isnan(readings.temperature))
    temperature = readings.temperature[rows]
    series = block_starts(readings.device[rows])
    before = np.r_[np.nan, temperature[:-1]] if rows.size else temperature
    rise = np.where(np.arange(rows.size) > series, temperature - before, np.nan)
    hot = temperature > config.fire_temp_c
    active = hot | (rise > config.fire_rise_c)
    time_ns = readings.time_ns[rows]
    starts = episode_starts(active, time_ns, series, seconds_to_ns(config.rearm_s))
    new = unalerted(active, starts, readings.fire_alerted[rows]) & changed[rows]
    marked = readings.fire_alerted.copy()
    marked[rows[new]] = True
    messages = [
        f"temperature {t:.1f} °C above {config.fire_temp_c:g} °C"
        if is_hot
        else f"temperature rose {r:.1f} °C to {t:.1f} °C since the previous reading"
        for t, r, is_hot in zip(temperature[new], rise[new], hot[new], strict=True)
    ]
    points = alert_points(
        "fire", readings.device[rows[new]], time_ns[new], temperature[new], messages
    )
    return points, marked


def hour_alerts(
    readings: Readings, hours: Hours, emit: BoolArray, config: WasteConfig
) -> tuple[Points, BoolArray]:
    """New ``bin_full`` alerts among the emitted hours and the updated ``full_alerted`` column."""
    series = block_starts(hours.device)
    cycles = np.cumsum(hours.emptied)
    rearm = seconds_to_ns(config.rearm_s)
    starts = episode_starts(hours.full, hours.start, series, rearm, cycles)
    done = hours.any_of(readings.full_alerted)
    new = unalerted(hours.full, starts, done) & emit
    marked = readings.full_alerted | new[hours.of_reading]
    limits = f"threshold {config.full_pct:g} %, horizon {config.collection_horizon_h:g} h"
    soon = np.nan_to_num(hours.to_full[new], nan=np.inf)
    messages = [
        f"bin {f:.0f} % full"
        + (f", full in {h:.1f} h" if h <= config.collection_horizon_h else "")
        + f" ({limits})"
        for f, h in zip(hours.fill[new], soon, strict=True)
    ]
    points = alert_points(
        "bin_full", hours.device[new], hours.start[new], hours.fill[new], messages
    )
    return points, marked


def hour_points(hours: Hours, emit: BoolArray) -> Points:
    """``waste_state`` points of the emitted hours."""
    fields = {
        "fill_pct": hours.fill[emit],
        "fill_rate_pct_h": hours.rate[emit],
        "hours_to_full": hours.to_full[emit],
        "emptied": hours.emptied[emit],
    }
    return Points("waste_state", hours.device[emit], hours.start[emit], fields)
