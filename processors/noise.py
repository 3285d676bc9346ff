"""Noise: hourly LAeq/LAmax/percentile levels, daily Lden, and WHO 2018 exceedance alerts.

``noise_1h`` (device x UTC hour): ``laeq`` = energetic mean of the interval LAeq readings
(10·log10 of the mean of 10^(L/10), never an arithmetic mean of dB), ``lamax`` = max of the
readings' ``lamax``, ``count``, and ``l10``/``l50``/``l90`` = 90th/50th/10th percentiles of the
interval LAeq readings, linear interpolation between closest ranks (NumPy's default). Caveat:
these are percentiles of *interval* levels (e.g. 1-minute LAeq), not of the 125 ms / 1 s levels
that define the statistical levels L10/L50/L90 in acoustics; they run flatter than the true ones
(the peaks are averaged away), so label them "of 1-min LAeq". Past ``sample_size`` readings per
hour they come from an order-independent bounded sample (``processors.sample``).

``noise_1d`` (device x local day D, Europe/Amsterdam by default, stamped at local midnight of D):
Lday over 07-19, Levening over 19-23 and Lnight over 23:00 of D to 07:00 of D+1 (so the night
that starts on date D belongs to day D, and the window is [07:00 D, 07:00 D+1)). Each period's
level is the energetic mean of the readings in it, i.e. its LAeq over its actual duration: on
the DST days the night that contains the change is 7 h (spring) or 9 h (autumn) and the day
window 23 h or 25 h; for 2026 those are the days D = 28 March and D = 24 October. Lden uses the
Directive 2002/49/EC formula with the fixed 12/4/8 hour weights. ``coverage`` = readings present
/ intervals expected, expected = the window's actual duration / ``interval_s`` (capped at 1).
A period without readings leaves its level and Lden absent.

``alert`` of type ``noise_exceedance``: one per device and day with Lden or Lnight above the
WHO 2018 road-traffic guideline and ``coverage`` ≥ ``min_coverage``, stamped like the day; it is
rewritten (same point) when a late reading re-emits the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Final

import numpy as np

from ingest.errors import ConfigError
from processors.base import ABSENT_INT, SETTINGS, Batch, Float64Array, Points, alert_points
from processors.calendar import LocalCalendar
from processors.partials import Partials, group, reduce_rows, regroup, unpack
from processors.sample import priority
from processors.stage import WindowedProcessor, seconds_to_ns
from processors.windows import Closed, WindowStore

__all__ = ["HOUR_STATS", "NoiseConfig", "NoiseProcessor", "energy", "lden", "level"]

_HOUR_NS: Final = 3_600 * 10**9
_PERIODS: Final = ("day", "evening", "night")
# Local day boundaries at 00, 07, 19, 23 h: segment 0 (00-07) is the previous day's night.
_BOUNDARY_HOURS: Final = (0, 7, 19, 23)
_PERIOD_OF_SEGMENT: Final = np.array([2, 0, 1, 2])
# Directive 2002/49/EC Annex I: period lengths 12/4/8 h, evening +5 dB, night +10 dB.
_WEIGHT_H: Final = (12.0, 4.0, 8.0)
_PENALTY_DB: Final = (0.0, 5.0, 10.0)
# What noise_1h and noise_1d are computed from: each kept statistic costs a pass over the rows.
HOUR_STATS: Final = MappingProxyType({"energy": ("count", "sum"), "lamax": ("max",)})
_DAY_STATS: Final = MappingProxyType({p: ("count", "sum") for p in _PERIODS})


@dataclass(frozen=True, slots=True)
class NoiseConfig:
    """Settings of the noise processor (``[processors]``)."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    lateness_s: float = 600.0
    """Seconds after the newest event time that a window closes."""
    horizon_s: float = 48 * 3600.0
    """Late readings within this many seconds re-open their window."""
    timezone: str = "Europe/Amsterdam"
    """IANA time zone of the local days of Lden (day 07-19, evening 19-23)."""
    interval_s: float = 300.0
    """Seconds each reading's LAeq covers: the noise nodes' report interval (5 min here)."""
    sample_size: int = 64
    """Readings kept per hour for percentiles (exact up to this many)."""
    # WHO Environmental Noise Guidelines for the European Region (2018), road traffic.
    lden_limit_db: float = 53.0
    """Lden guideline, dB (noise_exceedance alert)."""
    lnight_limit_db: float = 45.0
    """Lnight guideline, dB (noise_exceedance alert)."""
    min_coverage: float = 0.75
    """Below this share of a day's intervals a day raises no alert (still written)."""


def energy(level_db: Float64Array) -> Float64Array:
    """Relative sound energy 10^(L/10) of levels in dB."""
    return np.power(10.0, level_db / 10.0)


def level(mean_energy: Float64Array) -> Float64Array:
    """Level in dB of a mean relative energy (NaN stays NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(mean_energy)


def lden(lday: Float64Array, levening: Float64Array, lnight: Float64Array) -> Float64Array:
    """Directive 2002/49/EC Annex I: Lden from Lday, Levening and Lnight."""
    weighted = sum(
        w * energy(lp + penalty)
        for w, lp, penalty in zip(_WEIGHT_H, (lday, levening, lnight), _PENALTY_DB, strict=True)
    )
    return level(np.asarray(weighted) / sum(_WEIGHT_H))


class NoiseProcessor(WindowedProcessor):
    """``noise_1h``, ``noise_1d`` and ``noise_exceedance`` from noise readings."""

    def __init__(self, config: NoiseConfig | None = None) -> None:
        self.config = config or NoiseConfig()
        if self.config.interval_s <= 0 or self.config.sample_size < 1:
            raise ConfigError(
                "processors.noise",
                "interval_s must be > 0 and sample_size ≥ 1",
                "set the nodes' reporting interval and a sample size such as 64",
            )
        super().__init__(
            self.config.lateness_s,
            self.config.horizon_s,
            f"noise/1/{self.config.timezone}/{self.config.sample_size}",
        )
        self._calendar = LocalCalendar(self.config.timezone, _BOUNDARY_HOURS)
        self._hours = WindowStore(HOUR_STATS, self.config.sample_size)
        self._days = WindowStore(_DAY_STATS)
        self.stores = {"hours": self._hours, "days": self._days}

    def _fold(self, batch: Batch) -> list[Points]:
        keys, index = group(batch.time_ns // _HOUR_NS, batch.device)
        laeq = batch.valid("laeq")
        columns = {"energy": energy(laeq), "lamax": batch.valid("lamax")}
        parts = reduce_rows(index, keys.size, columns, HOUR_STATS)
        hour, device = unpack(keys)
        slots = self._hours.fold(keys, hour * _HOUR_NS, (hour + 1) * _HOUR_NS, parts)
        self._hours.fold_sample(slots, index, priority(batch.device, batch.time_ns), laeq)
        self._fold_days(hour * _HOUR_NS, device, parts)
        return []

    def _fold_days(self, start: np.ndarray, device: np.ndarray, parts: Partials) -> None:
        day, segment = self._calendar.locate_hours(start)
        day -= segment == 0  # 00:00-07:00 is the night of the previous day
        period = _PERIOD_OF_SEGMENT[segment]
        by_period = Partials(
            {p: np.where(period == i, parts.count["energy"], 0) for i, p in enumerate(_PERIODS)},
            {p: np.where(period == i, parts.total["energy"], 0.0) for i, p in enumerate(_PERIODS)},
            {},
            {},
        )
        day_keys, day_index = group(day, device)
        days, _ = unpack(day_keys)
        start_of_day = self._calendar.instants(days, 0)
        end_of_day = self._calendar.instants(days + 1, 1)
        daily = regroup(day_index, day_keys.size, by_period)
        self._days.fold(day_keys, start_of_day, end_of_day, daily)

    def _emit(self, watermark: int) -> list[Points]:
        days = self._days.take_closed(watermark)
        daily = self._daily_points(days)
        return [
            _hourly_points(self._hours.take_closed(watermark)),
            daily,
            self._alerts(days, daily),
        ]

    def _daily_points(self, days: Closed) -> Points:
        fields: dict[str, np.ndarray] = {f"l{p}": level(days.mean(p)) for p in _PERIODS}
        fields["lden"] = lden(fields["lday"], fields["levening"], fields["lnight"])
        window_start = self._calendar.instants(days.window, 1)
        expected = (days.end - window_start) / seconds_to_ns(self.config.interval_s)
        present = sum(days.count(p) for p in _PERIODS)
        fields["coverage"] = np.minimum(np.asarray(present) / expected, 1.0)
        return Points("noise_1d", days.device, days.start, fields)

    def _alerts(self, days: Closed, daily: Points) -> Points:
        cfg = self.config
        loud = np.nan_to_num(daily.fields["lden"]) > cfg.lden_limit_db
        loud_night = np.nan_to_num(daily.fields["lnight"]) > cfg.lnight_limit_db
        new = (loud | loud_night) & (daily.fields["coverage"] >= cfg.min_coverage)
        value = np.where(loud, daily.fields["lden"], daily.fields["lnight"])[new]
        messages = [
            ", ".join(
                f"{name} {v:.1f} dB (limit {limit:g})"
                for name, v, limit in (
                    ("Lden", d, cfg.lden_limit_db),
                    ("Lnight", n, cfg.lnight_limit_db),
                )
                if np.isfinite(v)
            )
            + "; WHO 2018 road-traffic guideline exceeded"
            for d, n in zip(daily.fields["lden"][new], daily.fields["lnight"][new], strict=True)
        ]
        return alert_points("noise_exceedance", days.device[new], days.start[new], value, messages)


def _hourly_points(hours: Closed) -> Points:
    count = hours.count("energy")
    l10, l50, l90 = hours.percentiles(90.0, 50.0, 10.0)
    fields: dict[str, np.ndarray] = {
        "laeq": level(hours.mean("energy")),
        "lamax": hours.high("lamax"),
        "l10": l10,
        "l50": l50,
        "l90": l90,
        "count": np.where(count > 0, count, ABSENT_INT),
    }
    return Points("noise_1h", hours.device, hours.start, fields)
