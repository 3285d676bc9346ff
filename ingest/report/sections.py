"""The report's sections, chosen from a day's rows: pure functions, no I/O.

Every function takes the rows of one local day (``ingest.report.day.Day``) and returns a
``Table``; ``in_district`` narrows rows to one district first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from ingest.report.day import FAIL, Day, Listed
from processors import NoiseConfig, WasteConfig

__all__ = [
    "POOR_EAQI",
    "Cell",
    "Table",
    "bins_to_collect",
    "device_problems",
    "in_district",
    "noise_exceedances",
    "poor_air_hours",
    "sections",
]

Cell = str | int | float | None
Row = Mapping[str, Any]
_R = TypeVar("_R", Row, Listed)
# EEA European Air Quality Index (2024 bands): 1 good ... 6 extremely poor; 4 is "poor".
EAQI_BANDS = ("good", "fair", "moderate", "poor", "very poor", "extremely poor")
POOR_EAQI = 4


@dataclass(frozen=True, slots=True)
class Table:
    """One section: ``name`` for machines (CSV), ``title`` for people."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[Cell, ...]]


def in_district(rows: Iterable[_R], district: str | None) -> list[_R]:
    """The rows of ``district`` (all rows when it is None)."""
    if district is None:
        return list(rows)
    return [r for r in rows if _district_of(r) == district]


def sections(day: Day, district: str | None, noise: NoiseConfig, waste: WasteConfig) -> list[Table]:
    """All four sections for ``day``, narrowed to ``district``."""
    devices = in_district(day.devices, district)
    sites = {d.name: d.site for d in devices}
    return [
        bins_to_collect(
            in_district(day.waste_state, district), in_district(day.alerts, district), waste
        ),
        noise_exceedances(in_district(day.noise_1d, district), sites, noise),
        poor_air_hours(in_district(day.air_1h, district), day.zone),
        device_problems(devices, day.linked, in_district(day.failed, district)),
    ]


def bins_to_collect(states: Sequence[Row], alerts: Sequence[Row], waste: WasteConfig) -> Table:
    """Bins whose last hourly state of the day is full or full within the collection horizon,
    or that raised ``bin_full`` and were not emptied after it; the fullest first."""
    last = {r["device"]: r for r in sorted(states, key=lambda r: int(r["time"]))}
    rows: list[tuple[Cell, ...]] = []
    urgency: dict[str, float] = {}
    for device, state in last.items():
        fill, hours = _number(state.get("fill_pct")), _number(state.get("hours_to_full"))
        why, urgency[device] = _fullness(fill, hours, waste)
        alerted = [a for a in alerts if a["device"] == device and a.get("type") == "bin_full"]
        if alerted and not _emptied_after(states, device, max(int(a["time"]) for a in alerted)):
            why.append("bin_full alert")
        if why:
            rows.append((device, state["district"], fill, hours, "; ".join(why)))
    rows.sort(key=lambda r: (urgency[str(r[0])], str(r[0])))
    columns = ("bin", "district", "fill %", "full in h", "why")
    return Table("bins_to_collect", "Bins to collect", columns, rows)


def _fullness(
    fill: float | None, hours: float | None, waste: WasteConfig
) -> tuple[list[str], float]:
    """Why the bin needs collecting (if it does) and the hours until it is full."""
    if fill is not None and fill >= waste.full_pct:
        return [f"≥ {waste.full_pct:g} % full"], 0.0
    if hours is not None and hours <= waste.collection_horizon_h:
        return [f"full within {waste.collection_horizon_h:g} h"], hours
    return [], math.inf if hours is None else hours


def _emptied_after(states: Sequence[Row], device: str, since_ns: int) -> bool:
    return any(
        r["device"] == device and int(r["time"]) >= since_ns and (r.get("emptied") or 0) > 0
        for r in states
    )


def noise_exceedances(days: Sequence[Row], sites: Mapping[str, str], noise: NoiseConfig) -> Table:
    """Locations whose Lden or Lnight is over the WHO 2018 road-traffic guideline."""
    rows = []
    for day in sorted(days, key=lambda r: (r["district"], r["device"])):
        lden, lnight = _number(day.get("lden")), _number(day.get("lnight"))
        coverage = _number(day.get("coverage"))
        over = [
            name
            for name, level, limit in (
                ("Lden", lden, noise.lden_limit_db),
                ("Lnight", lnight, noise.lnight_limit_db),
            )
            if level is not None and level > limit
        ]
        if not over:
            continue
        note = "" if (coverage or 0.0) >= noise.min_coverage else "low coverage: indicative"
        site = sites.get(day["device"], "")
        share = None if coverage is None else 100.0 * coverage
        rows.append(
            (site or day["device"], day["district"], lden, lnight, share, ", ".join(over), note)
        )
    columns = ("location", "district", "Lden dB", "Lnight dB", "coverage %", "over", "note")
    title = (
        f"Locations over the WHO noise guideline (Lden > {noise.lden_limit_db:g} dB, "
        f"Lnight > {noise.lnight_limit_db:g} dB)"
    )
    return Table("noise_over_guideline", title, columns, rows)


def poor_air_hours(hours: Sequence[Row], zone: ZoneInfo) -> Table:
    """Per district, the hours whose worst device EAQI is poor or worse (≥ 4)."""
    worst: dict[str, dict[int, Row]] = defaultdict(dict)
    for row in hours:
        if row.get("eaqi") is None:
            continue
        by_hour = worst[row["district"]]
        known = by_hour.get(int(row["time"]))
        if known is None or row["eaqi"] > known["eaqi"]:
            by_hour[int(row["time"])] = row
    rows: list[tuple[Cell, ...]] = []
    for district, by_hour in sorted(worst.items()):
        poor = sorted((t, r) for t, r in by_hour.items() if r["eaqi"] >= POOR_EAQI)
        band = max(r["eaqi"] for r in by_hour.values())
        pollutants = sorted({str(r["eaqi_pollutant"]) for _, r in poor if r["eaqi_pollutant"]})
        when = " ".join(_local_hour(t, zone) for t, _ in poor)
        rows.append((district, len(poor), EAQI_BANDS[band - 1], ", ".join(pollutants), when))
    columns = ("district", "poor hours", "worst band", "pollutant", "hours (local)")
    return Table("poor_air_hours", "Hours with EAQI poor or worse (≥ 4)", columns, rows)


def _local_hour(time_ns: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, tz=zone).strftime("%H:00")


def device_problems(
    devices: Sequence[Listed], linked: frozenset[str], failed: Sequence[Row]
) -> Table:
    """Devices without any uplink in the day, and devices with readings flagged FAIL."""
    fails: dict[str, list[str]] = defaultdict(list)
    for point in failed:
        fails[point["device"]] += [
            k.removesuffix("_qc") for k, v in point.items() if k.endswith("_qc") and v == FAIL
        ]
    rows: list[tuple[Cell, ...]] = []
    for device in sorted(devices, key=lambda d: (d.district, d.name)):
        where = (device.name, device.kind.value, device.district)
        if device.name not in linked:
            rows.append((*where, "silent", "no uplink in the day"))
        if fields := fails.get(device.name):
            points = sum(1 for p in failed if p["device"] == device.name)
            readings = "reading" if points == 1 else "readings"
            detail = f"{points} {readings} failed QC ({', '.join(sorted(set(fields)))})"
            rows.append((*where, "faulty", detail))
    columns = ("device", "kind", "district", "problem", "detail")
    return Table("device_problems", "Silent or faulty devices", columns, rows)


def _number(value: float | None) -> float | None:
    """A field as float (InfluxDB's JSON writes 0.0 as 0); None where absent."""
    return None if value is None else float(value)


def _district_of(row: Row | Listed) -> str:
    return row.district if isinstance(row, Listed) else str(row.get("district", ""))
