"""Waste bins: hourly fill state, emptying detection, robust fill rate; bin_full and fire alerts.

``waste_state`` (bin x UTC hour with a valid fill reading): ``fill_pct`` = the hour's last valid
fill; ``emptied`` = confirmed emptyings in the hour; ``fill_rate_pct_h`` = Theil–Sen slope (pp/h)
over the last ``rate_points`` valid fills since the last emptying and within ``rate_lookback_s``;
``hours_to_full`` = (100 - fill) / rate when the rate is > 0.

Emptying (heuristic, domain notes §3.2): a reading that drops ≥ ``emptying_drop_pp`` below the
previous one to under ``emptied_below_pct``, *confirmed* when the next reading is still
≥ ``emptying_drop_pp`` below the pre-drop level, so one noisy low echo is not an emptying. The
emptying is dated at the low reading; it is known only once the next reading arrives, so that
hour is emitted again then.

Alerts, one per episode (``processors.episodes``): ``fire`` at the reading where the
temperature exceeds ``fire_temp_c`` or rose > ``fire_rise_c`` since the previous reading (sent at
once, not held for the watermark); ``bin_full`` at the first closed hour of a fill cycle where
fill ≥ ``full_pct`` or ``hours_to_full`` ≤ ``collection_horizon_h``; an emptying ends the cycle.

State is the recent readings per bin, sorted by (device, time); hours are recomputed from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np

from ingest.errors import ConfigError
from processors.base import SETTINGS, Batch, Float64Array, Int32Array, Int64Array, Points
from processors.bins import derive_hours, fire_alerts, hour_alerts, hour_points
from processors.history import Readings, View
from processors.stage import WindowedProcessor, seconds_to_ns
from processors.windows import Arrays

__all__ = ["WasteConfig", "WasteProcessor", "fill_percent"]

_HOUR_NS: Final = 3_600 * 10**9


@dataclass(frozen=True, slots=True)
class WasteConfig:
    """Settings of the waste processor (``[processors]``); thresholds are design suggestions."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    lateness_s: float = 600.0
    """Seconds after the newest event time that a window closes."""
    horizon_s: float = 48 * 3600.0
    """Late readings within this many seconds re-open their window."""
    emptying_drop_pp: float = 30.0
    """A fall of at least this many percentage points can be an emptying."""
    emptied_below_pct: float = 20.0
    """Fill % a bin must fall under for the fall to count as an emptying."""
    full_pct: float = 90.0
    """Fill % that raises bin_full."""
    collection_horizon_h: float = 24.0
    """bin_full also when the bin is full within this many hours."""
    fire_temp_c: float = 60.0
    """Bin temperature (°C) that raises a fire alert."""
    fire_rise_c: float = 10.0
    """Temperature rise (°C) since the previous reading that raises a fire alert."""
    rate_points: int = 16
    """Fill readings since the last emptying that the fill rate is fitted over."""
    rate_lookback_s: float = 24 * 3600.0
    """Seconds back that readings count toward the fill rate."""
    rearm_s: float = 6 * 3600.0
    """An alert condition recurring within this many seconds is the same episode."""

    def history_ns(self) -> int:
        """How far before the update floor readings must be kept to recompute any open hour."""
        return seconds_to_ns(self.rate_lookback_s + self.rearm_s) + _HOUR_NS


def fill_percent(
    distance_mm: Float64Array, empty_mm: Float64Array, full_mm: Float64Array
) -> Float64Array:
    """Fill level from an ultrasonic distance: 100·(E - d)/(E - F), clamped to [0, 100].

    E is the distance on an empty bin, F the distance at which it counts as full (domain notes
    §3.1; registry columns ``empty_distance_mm``/``full_distance_mm``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(100.0 * (empty_mm - distance_mm) / (empty_mm - full_mm), 0.0, 100.0)


class WasteProcessor(WindowedProcessor):
    """``waste_state`` windows and ``bin_full``/``fire`` alerts from bin readings."""

    def __init__(self, config: WasteConfig | None = None) -> None:
        self.config = config or WasteConfig()
        if self.config.rate_points < 2:
            raise ConfigError(
                "processors.waste.rate_points",
                f"a fill rate needs at least 2 points, got {self.config.rate_points}",
                "set rate_points to 2 or more (default 16)",
            )
        super().__init__(self.config.lateness_s, self.config.horizon_s, "waste/1")
        self._readings = Readings.empty()
        self._rearm_ns = seconds_to_ns(self.config.rearm_s)

    def _fold(self, batch: Batch) -> list[Points]:
        new = Readings.from_batch(batch)
        if not len(new):
            return []
        floor = self.clock.floor
        self._readings, touched, first_new = self._readings.insert(new, floor)
        # Only readings from the earliest new one on can change state; an episode reaches back
        # at most ``rearm`` (plus an hour of margin for the previous reading).
        view = self._readings.around(touched, first_new - self._rearm_ns - _HOUR_NS)
        changed = view.readings.time_ns >= np.maximum(_per_row(view, touched, first_new), floor)
        alerts, marked = fire_alerts(view.readings, self.config, changed)
        self._readings.fire_alerted[view.rows] = marked
        return [alerts]

    def _emit(self, watermark: int) -> list[Points]:
        due = self._readings.due(watermark)
        if not due.size:
            return []
        device = self._readings.device[due]  # sorted
        first = due[np.r_[True, device[1:] != device[:-1]]]
        codes, first_due = self._readings.device[first], self._readings.time_ns[first]
        first_due = first_due // _HOUR_NS * _HOUR_NS
        # what the due hours depend on: bin_full episodes look back ``rearm``, fresh fill
        # rates at most ``rate_points`` fill readings (older hours' rates are cached)
        since = np.minimum(
            first_due - self._rearm_ns - _HOUR_NS,
            self._readings.fills_back(codes, first_due, self.config.rate_points),
        )
        view = self._readings.around(codes, since)
        hours = derive_hours(view.readings, self.config, _per_row(view, codes, first_due))
        self._readings.rate[view.rows] = view.readings.rate
        is_due = np.zeros(len(self._readings), dtype=np.bool_)
        is_due[due] = True
        emit = hours.any_of(is_due[view.rows]) & hours.has_fill
        alerts, marked = hour_alerts(view.readings, hours, emit, self.config)
        self._readings.full_alerted[view.rows] = marked
        self._readings.pending[due] = False
        return [hour_points(hours, emit), alerts]

    def _expire(self, floor: int) -> None:
        self._readings = self._readings.prune(max(floor - self.config.history_ns(), -(2**63)))

    def _state(self) -> Arrays:
        return self._readings.state()

    def _load(self, arrays: Arrays) -> None:
        self._readings = Readings.load(arrays)


def _per_row(view: View, codes: Int32Array, per_device: Int64Array) -> Int64Array:
    """A per-device value spread over the rows of a view of exactly the devices ``codes``
    (sorted, each with rows in the view)."""
    ends = np.searchsorted(view.readings.device, codes, "right")
    return np.repeat(per_device, np.diff(ends, prepend=0))
