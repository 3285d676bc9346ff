"""Plain-Python reference implementations of the processors, written from the domain notes.

Loops over readings are fine here: these are slow on purpose and exist to be obviously right.
Each takes a list of ``Reading`` and returns ``{(measurement, device, time_ns, type): fields}``,
the final value of every point the processor should have written (alerts keyed by ``type``).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = 3_600 * 10**9
AMS = ZoneInfo("Europe/Amsterdam")

EAQI = {
    "pm25": [5, 15, 50, 90, 140],
    "pm10": [15, 45, 120, 195, 270],
    "no2": [10, 25, 60, 100, 150],
    "o3": [60, 100, 120, 160, 180],
}
LKI = {
    "no2": [10, 20, 30, 45, 60, 75, 100, 125, 150, 200],
    "pm10": [10, 20, 30, 45, 60, 75, 100, 125, 150, 200],
    "pm25": [10, 15, 20, 30, 40, 50, 70, 90, 100, 140],
    "o3": [15, 30, 40, 60, 80, 100, 140, 180, 200, 240],
}
POLLUTANTS = ["pm25", "pm10", "no2", "o3"]
WHO = {"pm25": 15.0, "pm10": 45.0, "no2": 25.0}

Key = tuple[str, int, int, str]


@dataclass(frozen=True)
class Reading:
    device: int
    time_ns: int
    values: dict[str, float]  # only valid values (absent or FAIL readings left out)


def eaqi_level(name: str, value: float) -> int:
    for level, upper in enumerate(EAQI[name], start=1):
        if value <= upper:
            return level
    return 6


def lki_level(name: str, value: float) -> int:
    level = 1
    for lower in LKI[name]:
        if value >= lower:
            level += 1
    return level


def local_midnight(day: date) -> int:
    moment = datetime(day.year, day.month, day.day, tzinfo=AMS)
    return int(moment.timestamp()) * 10**9


def local_at(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=AMS).timestamp()) * 10**9


def local_time(time_ns: int) -> datetime:
    return datetime.fromtimestamp(time_ns // 10**9, tz=UTC).astimezone(AMS)


def air(readings: list[Reading]) -> dict[Key, dict[str, object]]:
    hours: dict[tuple[int, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    days: dict[tuple[int, date], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in readings:
        for name, value in r.values.items():
            hours[r.device, r.time_ns // HOUR][name].append(value)
            days[r.device, local_time(r.time_ns).date()][name].append(value)
    out: dict[Key, dict[str, object]] = {}
    for (device, hour), values in hours.items():
        fields: dict[str, object] = {}
        eaqi: list[tuple[int, str]] = []
        lki: list[int] = []
        for name in POLLUTANTS:
            if not values.get(name):
                continue
            mean = sum(values[name]) / len(values[name])
            fields |= {f"{name}_mean": mean, f"{name}_min": min(values[name])}
            fields |= {f"{name}_max": max(values[name]), f"{name}_count": len(values[name])}
            eaqi.append((eaqi_level(name, mean), name))
            lki.append(lki_level(name, mean))
        if eaqi:
            worst = max(level for level, _ in eaqi)
            fields["eaqi"] = worst
            fields["eaqi_pollutant"] = next(name for level, name in eaqi if level == worst)
            bonus = 1 if len(lki) >= 2 and len(set(lki)) == 1 else 0
            fields["lki"] = min(max(lki) + bonus, 11)
        if fields:
            out["air_1h", device, hour * HOUR, ""] = fields
    for (device, day), values in days.items():
        ratios = {
            name: sum(values[name]) / len(values[name]) / limit
            for name, limit in WHO.items()
            if values.get(name)
        }
        exceeded = {name: ratio for name, ratio in ratios.items() if ratio > 1}
        if exceeded:
            worst = max(exceeded, key=lambda name: (exceeded[name], -POLLUTANTS.index(name)))
            out["alert", device, local_midnight(day), "air_exceedance"] = {
                "value": exceeded[worst] * WHO[worst]
            }
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q / 100 * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def energetic_mean(levels: list[float]) -> float:
    return 10 * math.log10(sum(10 ** (level / 10) for level in levels) / len(levels))


def lden(day: float, evening: float, night: float) -> float:
    total = 12 * 10 ** (day / 10) + 4 * 10 ** ((evening + 5) / 10) + 8 * 10 ** ((night + 10) / 10)
    return 10 * math.log10(total / 24)


def noise_day(time_ns: int) -> tuple[date, str]:
    local = local_time(time_ns)
    if local.hour < 7:
        return local.date() - timedelta(days=1), "night"
    if local.hour < 19:
        return local.date(), "day"
    if local.hour < 23:
        return local.date(), "evening"
    return local.date(), "night"


def noise(readings: list[Reading], interval_s: float = 300.0) -> dict[Key, dict[str, object]]:
    hours: dict[tuple[int, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    days: dict[tuple[int, date], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in readings:
        for name, value in r.values.items():
            hours[r.device, r.time_ns // HOUR][name].append(value)
        day, period = noise_day(r.time_ns)
        if "laeq" in r.values:
            days[r.device, day][period].append(r.values["laeq"])
        else:
            days[r.device, day]["none"] = []
    out: dict[Key, dict[str, object]] = {}
    for (device, hour), values in hours.items():
        fields: dict[str, object] = {}
        if values.get("laeq"):
            laeq = values["laeq"]
            fields |= {"laeq": energetic_mean(laeq), "count": len(laeq)}
            fields |= {"l10": percentile(laeq, 90), "l50": percentile(laeq, 50)}
            fields["l90"] = percentile(laeq, 10)
        if values.get("lamax"):
            fields["lamax"] = max(values["lamax"])
        if fields:
            out["noise_1h", device, hour * HOUR, ""] = fields
    for (device, day), periods in days.items():
        fields = {
            f"l{p}": energetic_mean(periods[p])
            for p in ("day", "evening", "night")
            if periods.get(p)
        }
        if len(fields) == 3:
            fields["lden"] = lden(fields["lday"], fields["levening"], fields["lnight"])
        duration = local_at(day + timedelta(days=1), 7) - local_at(day, 7)
        present = sum(len(v) for v in periods.values())
        fields["coverage"] = min(present / (duration / (interval_s * 10**9)), 1.0)
        out["noise_1d", device, local_midnight(day), ""] = fields
        loud = fields.get("lden", 0) > 53
        if (loud or fields.get("lnight", 0) > 45) and fields["coverage"] >= 0.75:
            value = fields["lden"] if loud else fields["lnight"]
            out["alert", device, local_midnight(day), "noise_exceedance"] = {"value": value}
    return out


@dataclass(frozen=True)
class WasteRules:
    drop: float = 30.0
    low: float = 20.0
    full: float = 90.0
    horizon_h: float = 24.0
    fire_temp: float = 60.0
    fire_rise: float = 10.0
    rate_points: int = 16
    lookback_h: float = 24.0
    rearm_h: float = 6.0


def _sort_key(r: Reading) -> tuple[int, float, float]:
    return (r.time_ns, r.values.get("fill_pct", math.inf), r.values.get("temperature", math.inf))


def theil_sen(points: list[tuple[int, float]]) -> float | None:
    slopes = [
        (f2 - f1) / float(t2 - t1)
        for i, (t1, f1) in enumerate(points)
        for t2, f2 in points[i + 1 :]
        if t2 != t1
    ]
    return statistics.median(slopes) * HOUR if slopes else None


def _emptyings(fills: list[tuple[int, float]], rules: WasteRules) -> list[bool]:
    out = []
    for i, (_, f) in enumerate(fills):
        drop = i > 0 and fills[i - 1][1] - f >= rules.drop and f < rules.low
        out.append(drop and i + 1 < len(fills) and fills[i - 1][1] - fills[i + 1][1] >= rules.drop)
    return out


def _fill_hours(
    fills: list[tuple[int, float]], rules: WasteRules
) -> dict[int, tuple[float, int, float | None, float | None]]:
    """hour -> (fill, emptied, rate, hours_to_full) for hours with a fill reading."""
    emptied = _emptyings(fills, rules)
    hours: dict[int, tuple[float, int, float | None, float | None]] = {}
    for b, (t_b, f_b) in enumerate(fills):
        if b + 1 < len(fills) and fills[b + 1][0] // HOUR == t_b // HOUR:
            continue  # not the hour's last fill reading
        since = max([j for j in range(b + 1) if emptied[j]], default=0)
        first = max(since, b - rules.rate_points + 1)
        points = [
            fills[k] for k in range(first, b + 1) if fills[k][0] >= t_b - rules.lookback_h * HOUR
        ]
        rate = theil_sen(points)
        to_full = max(100.0 - f_b, 0.0) / rate if rate is not None and rate > 0 else None
        count = sum(1 for j, (t, _) in enumerate(fills) if emptied[j] and t // HOUR == t_b // HOUR)
        hours[t_b // HOUR] = (f_b, count, rate, to_full)
    return hours


def _episodes(active: list[tuple[int, bool, int]], rearm_ns: float) -> list[int]:
    """Indices where an episode starts; items are (time, active, breaks-so-far)."""
    starts, prior = [], None
    for i, (t, on, breaks) in enumerate(active):
        if not on:
            continue
        if prior is None or t - active[prior][0] > rearm_ns or active[prior][2] != breaks:
            starts.append(i)
        prior = i
    return starts


def waste(readings: list[Reading], rules: WasteRules | None = None) -> dict[Key, dict[str, object]]:
    rules = rules or WasteRules()
    by_device: dict[int, list[Reading]] = defaultdict(list)
    for r in readings:
        if "fill_pct" in r.values or "temperature" in r.values:
            by_device[r.device].append(r)
    out: dict[Key, dict[str, object]] = {}
    for device, rows in by_device.items():
        rows.sort(key=_sort_key)
        fills = [(r.time_ns, r.values["fill_pct"]) for r in rows if "fill_pct" in r.values]
        hours = _fill_hours(fills, rules)
        for hour, (fill, emptied, rate, to_full) in hours.items():
            fields: dict[str, object] = {"fill_pct": fill, "emptied": emptied}
            if rate is not None:
                fields["fill_rate_pct_h"] = rate
            if to_full is not None:
                fields["hours_to_full"] = to_full
            out["waste_state", device, hour * HOUR, ""] = fields
        ordered = sorted(hours)
        breaks, flags = 0, []
        for hour in ordered:
            fill, emptied, _, to_full = hours[hour]
            breaks += emptied
            full = fill >= rules.full or (to_full is not None and to_full <= rules.horizon_h)
            flags.append((hour * HOUR, full, breaks))
        for i in _episodes(flags, rules.rearm_h * HOUR):
            out["alert", device, flags[i][0], "bin_full"] = {"value": hours[ordered[i]][0]}
        temps = [(r.time_ns, r.values["temperature"]) for r in rows if "temperature" in r.values]
        fire = [
            (t, v > rules.fire_temp or (i > 0 and v - temps[i - 1][1] > rules.fire_rise), 0)
            for i, (t, v) in enumerate(temps)
        ]
        for i in _episodes(fire, rules.rearm_h * HOUR):
            out["alert", device, temps[i][0], "fire"] = {"value": temps[i][1]}
    return out
