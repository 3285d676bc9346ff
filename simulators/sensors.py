"""Sensor models: what an air, noise or bin sensor at one site measures at a given time.

Each model owns a seeded numpy ``Generator`` and its slowly varying state (pollution episodes,
weather, bin fill), so one device's readings are deterministic and must be taken in time order.
Values are in the schema's units (``ingest.schema``) and stay inside its physical ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from ingest.model import Device, Kind

__all__ = ["SensorModel", "build_model"]

_LOCAL: Final = ZoneInfo("Europe/Amsterdam")
_DAY_S: Final = 86_400.0


class SensorModel(Protocol):
    """A device's sensor: readings by schema field name, asked for in increasing time order."""

    def read(self, time_ns: int) -> dict[str, float]:
        """The values the device measures at ``time_ns``."""
        ...


@dataclass(slots=True)
class _Drift:
    """A mean-reverting AR(1) process: time constant ``tau_s``, stationary deviation ``sigma``."""

    tau_s: float
    sigma: float
    value: float = 0.0

    def step(self, dt_s: float, rng: np.random.Generator) -> float:
        phi = math.exp(-dt_s / self.tau_s)
        self.value = phi * self.value + self.sigma * math.sqrt(1.0 - phi * phi) * rng.normal()
        return self.value


@dataclass(frozen=True, slots=True)
class _Clock:
    """Local time features of one reading; ``dt_s`` is the time since the previous one."""

    dt_s: float
    hour: float
    day_of_year: int
    weekend: bool

    @property
    def rush(self) -> float:
        """Traffic intensity: peaks 07–09 and 16–19 local time, halved at weekends."""
        h = self.hour
        peaks = math.exp(-(((h - 8.0) / 0.8) ** 2)) + 0.9 * math.exp(-(((h - 17.5) / 1.1) ** 2))
        return (0.5 if self.weekend else 1.0) * peaks

    @property
    def activity(self) -> float:
        """0 at night, 1 during the day: the city wakes around 06:30 and sleeps around 22:30."""
        h = self.hour
        return 1.0 / (1.0 + math.exp(-2.0 * (h - 6.5))) / (1.0 + math.exp(1.5 * (h - 22.5)))

    @property
    def sun(self) -> float:
        return max(0.0, math.sin(math.pi * (self.hour - 6.0) / 14.0))

    @property
    def diurnal_c(self) -> float:
        """The daily temperature swing around the day's mean: ±4 °C, warmest at 15:00."""
        return 4.0 * math.cos(2.0 * math.pi * (self.hour - 15.0) / 24.0)

    def ambient_c(self) -> float:
        """Dutch climate: daily means of 3.5 °C in January and 17.5 °C in July."""
        season = 10.5 - 7.0 * math.cos(2.0 * math.pi * (self.day_of_year - 15) / 365.25)
        return season + self.diurnal_c


@dataclass(slots=True)
class _Model:
    rng: np.random.Generator
    last_ns: int | None = field(default=None, init=False)

    def _clock(self, time_ns: int) -> _Clock:
        dt_s = 600.0 if self.last_ns is None else max(1.0, (time_ns - self.last_ns) / 1e9)
        self.last_ns = time_ns
        local = datetime.fromtimestamp(time_ns / 1e9, _LOCAL)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        return _Clock(dt_s, hour, local.timetuple().tm_yday, local.weekday() >= 5)


@dataclass(slots=True)
class _AirModel(_Model):
    traffic: float = 1.0  # exposure to traffic, ≈ 0.4 (park) … 1.6 (arterial road)
    background: float = 7.0  # regional PM2.5 background, µg/m³
    episode: _Drift = field(default_factory=lambda: _Drift(2 * _DAY_S, 0.45))
    weather: _Drift = field(default_factory=lambda: _Drift(3 * _DAY_S, 1.0))

    def read(self, time_ns: int) -> dict[str, float]:
        clock, rng = self._clock(time_ns), self.rng
        episode = self.episode.step(clock.dt_s, rng)
        weather = self.weather.step(clock.dt_s, rng)
        traffic = self.traffic * (0.35 * clock.activity + clock.rush)
        pm25 = self.background * math.exp(episode) + 5.0 * traffic + abs(rng.normal(0.0, 0.8))
        no2 = 14.0 * math.exp(0.5 * episode) + 30.0 * traffic + abs(rng.normal(0.0, 2.5))
        o3 = 45.0 + 35.0 * clock.sun - 0.45 * no2 + rng.normal(0.0, 3.0)
        temperature = clock.ambient_c() + 2.0 * weather + rng.normal(0.0, 0.3)
        humidity = 77.0 - 3.5 * clock.diurnal_c - 3.0 * weather + rng.normal(0.0, 2.5)
        return {
            "pm25": min(pm25, 300.0),
            "pm10": min(1.45 * pm25 + 4.0 + 3.0 * traffic + abs(rng.normal(0.0, 1.5)), 320.0),
            "no2": min(no2, 300.0),
            "o3": min(max(o3, 2.0), 240.0),
            "temperature": temperature,
            "humidity": min(max(humidity, 20.0), 99.5),
            "pressure": 1013.25 + 10.0 * weather + rng.normal(0.0, 0.15),
            "battery_v": 3.7 + 0.15 * clock.sun + rng.normal(0.0, 0.005),  # solar-buffered cell
        }


@dataclass(slots=True)
class _NoiseModel(_Model):
    day_level: float = 62.0  # daytime LAeq, dB(A): ≈ 55 residential … 68 busy street
    night_drop: float = 10.0
    traffic: float = 1.0

    def read(self, time_ns: int) -> dict[str, float]:
        clock, rng = self._clock(time_ns), self.rng
        night = self.day_level - self.night_drop
        laeq = night + self.night_drop * clock.activity + 2.5 * self.traffic * clock.rush
        laeq += rng.normal(0.0, 1.2)
        peak = 7.0 + rng.exponential(4.0)
        if rng.random() < 0.06:  # a siren, a moped, a bin lorry
            laeq += rng.uniform(2.0, 8.0)
            peak += rng.uniform(5.0, 15.0)
        return {
            "laeq": laeq,
            "lamax": min(laeq + peak, 130.0),
            "lamin": max(laeq - 3.0 - rng.exponential(3.0), 28.0),
            "battery_v": 3.6 + rng.normal(0.0, 0.004),  # mains powered, backup cell
        }


@dataclass(slots=True)
class _WasteModel(_Model):
    empty_mm: float = 1100.0
    full_mm: float = 300.0
    fill_rate: float = 0.008  # fraction of the bin per daytime hour
    battery_v: float = 3.6
    fill: float = 0.0

    def read(self, time_ns: int) -> dict[str, float]:
        clock, rng = self._clock(time_ns), self.rng
        busy = 0.3 + 1.2 * clock.activity
        self.fill += self.fill_rate * busy * clock.dt_s / 3600.0 * rng.uniform(0.5, 1.5)
        if self.fill >= 1.05 or (self.fill >= 0.8 and rng.random() < 0.25):
            self.fill = rng.uniform(0.0, 0.04)  # the bin lorry came by
        self.battery_v = max(3.05, self.battery_v - 4e-5 * clock.dt_s / 3600.0)
        distance = self.empty_mm - self.fill * (self.empty_mm - self.full_mm)
        return {
            "distance_mm": max(distance + rng.normal(0.0, 4.0), 200.0),
            "temperature": clock.ambient_c() + 1.5 + rng.normal(0.0, 0.4),
            "battery_v": self.battery_v + rng.normal(0.0, 0.002),
        }


def build_model(device: Device, seed: int) -> SensorModel:
    """The sensor model of ``device``: site parameters and noise drawn from ``seed``."""
    rng = np.random.default_rng([seed, 0x5E45, device.code])
    if device.kind is Kind.AIR:
        return _AirModel(rng, traffic=rng.uniform(0.4, 1.6), background=rng.uniform(4.0, 10.0))
    if device.kind is Kind.NOISE:
        return _NoiseModel(
            rng,
            day_level=rng.uniform(55.0, 68.0),
            night_drop=rng.uniform(7.0, 12.0),
            traffic=rng.uniform(0.4, 1.6),
        )
    return _WasteModel(
        rng,
        empty_mm=device.empty_distance_mm or 1100.0,
        full_mm=device.full_distance_mm or 300.0,
        fill_rate=rng.uniform(0.003, 0.015),
        battery_v=rng.uniform(3.3, 3.6),
        fill=rng.uniform(0.0, 0.6),
    )
