"""Air quality: hourly aggregates with the EAQI and LKI indices, and WHO 24-hour alerts.

``air_1h`` (device x UTC hour): ``<pollutant>_mean/_min/_max/_count`` for PM2.5, PM10, NO2 and
O3 over the readings not flagged FAIL/MISSING; ``eaqi`` (1-6) with ``eaqi_pollutant``; ``lki``
(1-11). Indices are computed from the hourly means of the pollutants the device measured (a
PM-only sensor gives a PM-only index).

``alert`` of type ``air_exceedance``: one per device and local day (Europe/Amsterdam by
default) whose mean exceeds a WHO 2021 24-hour guideline, stamped at the local midnight. When a
late reading re-emits the day, its alert is rewritten with the new value (same point, so it
overwrites); an alert that late data would cancel is not withdrawn. Low-cost sensor data is
indicative only, and the message says so. The local day is built from UTC hours, so the time
zone must have whole-hour UTC offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Final

import numpy as np

from processors.base import (
    ABSENT_INT,
    SETTINGS,
    Batch,
    Float64Array,
    Int64Array,
    Points,
    StrArray,
    alert_points,
)
from processors.calendar import LocalCalendar
from processors.partials import group, reduce_rows, regroup, unpack
from processors.stage import WindowedProcessor
from processors.windows import Closed, WindowStore

__all__ = ["AirConfig", "AirProcessor", "eaqi", "lki"]

POLLUTANTS: Final = ("pm25", "pm10", "no2", "o3")  # also the tie order for eaqi_pollutant

# EEA European Air Quality Index, bands revised in 2024 (ETC HE Report 2024/17): upper edges of
# levels 1-5 in µg/m³ of hourly means; level 6 is open-ended. Edge convention: a value equal to
# an upper edge belongs to the lower level (5.0 -> 1, 5.01 -> 2).
EAQI_UPPER_EDGES: Final = MappingProxyType(
    {
        "pm25": (5.0, 15.0, 50.0, 90.0, 140.0),
        "pm10": (15.0, 45.0, 120.0, 195.0, 270.0),
        "no2": (10.0, 25.0, 60.0, 100.0, 150.0),
        "o3": (60.0, 100.0, 120.0, 160.0, 180.0),
    }
)

# RIVM Luchtkwaliteitsindex (RIVM report 2014-0050): lower edges of levels 2-11 in µg/m³ of
# hourly values, lower edge inclusive. Level 11's start is from one implementation only.
LKI_LOWER_EDGES: Final = MappingProxyType(
    {
        "no2": (10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 100.0, 125.0, 150.0, 200.0),
        "pm10": (10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 100.0, 125.0, 150.0, 200.0),
        "pm25": (10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 70.0, 90.0, 100.0, 140.0),
        "o3": (15.0, 30.0, 40.0, 60.0, 80.0, 100.0, 140.0, 180.0, 200.0, 240.0),
    }
)
LKI_MAX: Final = 11

_HOUR_NS: Final = 3_600 * 10**9
_NAMES: Final = MappingProxyType({"pm25": "PM2.5", "pm10": "PM10", "no2": "NO2", "o3": "O3"})


@dataclass(frozen=True, slots=True)
class AirConfig:
    """Settings of the air processor (``[processors]``)."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    lateness_s: float = 600.0
    """Seconds after the newest event time that a window closes."""
    horizon_s: float = 48 * 3600.0
    """Late readings within this many seconds re-open their window."""
    timezone: str = "Europe/Amsterdam"
    """IANA time zone of the local days that daily means cover."""
    # WHO global air quality guidelines 2021, 24-hour AQG levels in µg/m³.
    who_pm25_24h: float = 15.0
    """PM2.5 daily guideline, µg/m³ (air_exceedance alert)."""
    who_pm10_24h: float = 45.0
    """PM10 daily guideline, µg/m³ (air_exceedance alert)."""
    who_no2_24h: float = 25.0
    """NO2 daily guideline, µg/m³ (air_exceedance alert)."""

    def guidelines(self) -> dict[str, float]:
        """Daily guideline per pollutant."""
        return {"pm25": self.who_pm25_24h, "pm10": self.who_pm10_24h, "no2": self.who_no2_24h}


def eaqi(means: dict[str, Float64Array]) -> tuple[Int64Array, StrArray]:
    """EAQI level and driving pollutant per row; ``ABSENT_INT``/``""`` where nothing measured."""
    levels = _levels(means, EAQI_UPPER_EDGES, "left")
    worst = levels.max(axis=0)
    driver = np.array(POLLUTANTS)[levels.argmax(axis=0)]  # argmax: first in POLLUTANTS order
    return np.where(worst > 0, worst, ABSENT_INT), np.where(worst > 0, driver, "")


def lki(means: dict[str, Float64Array]) -> Int64Array:
    """LKI per row: the worst pollutant's level, one higher when all measured ones are equal.

    The "+1" rule (luchtmeetnet.nl) needs at least two measured pollutants; the result is
    capped at 11.
    """
    levels = _levels(means, LKI_LOWER_EDGES, "right")
    measured = levels > 0
    worst = levels.max(axis=0)
    best = np.where(measured, levels, LKI_MAX + 1).min(axis=0)
    bonus = (measured.sum(axis=0) >= 2) & (best == worst)
    total = np.minimum(worst + bonus, LKI_MAX)
    return np.where(worst > 0, total, ABSENT_INT)


def _levels(
    means: dict[str, Float64Array], edges: MappingProxyType[str, tuple[float, ...]], side: str
) -> Int64Array:
    """Per-pollutant levels (rows in ``POLLUTANTS`` order), 0 where the mean is absent."""
    rows = []
    for name in POLLUTANTS:
        value = means[name]
        level = np.searchsorted(edges[name], value, side=side) + 1  # type: ignore[call-overload]
        rows.append(np.where(np.isnan(value), 0, level))
    return np.stack(rows).astype(np.int64)


class AirProcessor(WindowedProcessor):
    """``air_1h`` windows and ``air_exceedance`` alerts from air readings."""

    def __init__(self, config: AirConfig | None = None) -> None:
        self.config = config or AirConfig()
        super().__init__(
            self.config.lateness_s, self.config.horizon_s, f"air/1/{self.config.timezone}"
        )
        self._calendar = LocalCalendar(self.config.timezone, (0,))
        self._hours = WindowStore(POLLUTANTS)
        self._day_stats = {name: ("count", "sum") for name in self.config.guidelines()}
        self._days = WindowStore(self._day_stats)  # daily means only
        self.stores = {"hours": self._hours, "days": self._days}

    def _fold(self, batch: Batch) -> list[Points]:
        keys, index = group(batch.time_ns // _HOUR_NS, batch.device)
        columns = {name: batch.valid(name) for name in POLLUTANTS}
        parts = reduce_rows(index, keys.size, columns)
        hour, device = unpack(keys)
        self._hours.fold(keys, hour * _HOUR_NS, (hour + 1) * _HOUR_NS, parts)
        day, _ = self._calendar.locate_hours(hour * _HOUR_NS)
        day_keys, day_index = group(day, device)
        daily = regroup(day_index, day_keys.size, parts.select(self._day_stats))
        days, _ = unpack(day_keys)
        start = self._calendar.instants(days, 0)
        self._days.fold(day_keys, start, self._calendar.instants(days + 1, 0), daily)
        return []

    def _emit(self, watermark: int) -> list[Points]:
        return [
            _hourly_points(self._hours.take_closed(watermark)),
            self._alerts(self._days.take_closed(watermark)),
        ]

    def _alerts(self, days: Closed) -> Points:
        guidelines = self.config.guidelines()
        means = {name: days.mean(name) for name in guidelines}
        ratio = np.stack([means[name] / limit for name, limit in guidelines.items()])
        exceeded = np.nan_to_num(ratio) > 1.0
        new = exceeded.any(axis=0)
        worst = np.nan_to_num(ratio, nan=-1.0).argmax(axis=0)
        names = list(guidelines)
        messages, values = [], []
        for row in np.flatnonzero(new):  # one step per alert, not per reading
            parts = [
                f"{_NAMES[name]} daily mean {means[name][row]:.1f} µg/m³ > {limit:g}"
                for i, (name, limit) in enumerate(guidelines.items())
                if exceeded[i, row]
            ]
            messages.append("; ".join(parts) + " (WHO 2021 24-h guideline; indicative sensor)")
            values.append(means[names[worst[row]]][row])
        return alert_points(
            "air_exceedance", days.device[new], days.start[new], np.array(values), messages
        )


def _hourly_points(hours: Closed) -> Points:
    fields: dict[str, np.ndarray] = {}
    means = {}
    for name in POLLUTANTS:
        count = hours.count(name)
        means[name] = hours.mean(name)
        fields[f"{name}_mean"] = means[name]
        fields[f"{name}_min"] = hours.low(name)
        fields[f"{name}_max"] = hours.high(name)
        fields[f"{name}_count"] = np.where(count > 0, count, ABSENT_INT)
    fields["eaqi"], fields["eaqi_pollutant"] = eaqi(means)
    fields["lki"] = lki(means)
    return Points("air_1h", hours.device, hours.start, fields)
