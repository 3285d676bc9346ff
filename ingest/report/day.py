"""One local day's rows from InfluxDB, read with InfluxQL over the v1 ``/query`` endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from ingest.history import query_rows
from ingest.model import Kind, Owner
from ingest.plan import Plan
from ingest.schema import FIELDS
from ingest.settings import InfluxSettings
from ingest.sinks.retention import influxql_source

__all__ = ["FAIL", "Day", "Listed", "day_bounds", "listed_devices", "read_day"]

Row = Mapping[str, Any]
FAIL = 4  # IOOS QARTOD flag "fail"


@dataclass(frozen=True, slots=True)
class Listed:
    """A registry device as the report names it: public name (a pseudonym for citizen-hosted
    devices, whose site stays private)."""

    name: str
    kind: Kind
    district: str
    site: str


@dataclass(frozen=True, slots=True)
class Day:
    """The rows of one local day ``[start_ns, end_ns)``; each row carries its ``device`` and
    ``district`` tags and ``time`` (ns)."""

    date: date
    zone: ZoneInfo
    start_ns: int
    end_ns: int
    devices: Sequence[Listed]
    waste_state: Sequence[Row]
    alerts: Sequence[Row]  # with the ``type`` tag
    noise_1d: Sequence[Row]
    air_1h: Sequence[Row]
    linked: frozenset[str]  # devices with at least one ``link`` point in the day
    failed: Sequence[Row]  # raw points with a field flagged FAIL, with ``kind``


def day_bounds(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """Local midnight to the next local midnight, in ns since the epoch (23 h or 25 h at DST)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return _ns(start), _ns(end)


def listed_devices(the_plan: Plan) -> list[Listed]:
    """The registry's devices under their public names."""
    return [
        Listed(
            the_plan.pseudonyms.name(d),
            d.kind,
            d.district,
            d.site if d.owner is Owner.MUNICIPAL else "",
        )
        for d in the_plan.registry
    ]


async def read_day(the_plan: Plan, day: date) -> Day:
    """Every row the report needs for ``day`` (local to the noise processor's time zone)."""
    zone = ZoneInfo(the_plan.settings.processors.noise.timezone)
    start, end = day_bounds(day, zone)
    within = f"time >= {start} AND time < {end}"
    influx = the_plan.settings.influxdb
    async with aiohttp.ClientSession() as session:

        async def rows(select: str, measurement: str, group: str = "") -> list[dict[str, Any]]:
            source = influxql_source(measurement, influx)
            query = f"{select} FROM {source} WHERE {within} GROUP BY device, district{group}"
            return await query_rows(session, influx, query)

        linked = await rows("SELECT count(*)", "link")
        return Day(
            date=day,
            zone=zone,
            start_ns=start,
            end_ns=end,
            devices=listed_devices(the_plan),
            waste_state=await rows("SELECT fill_pct, hours_to_full, emptied", "waste_state"),
            alerts=await rows("SELECT value, message", "alert", group=", type"),
            noise_1d=await rows("SELECT lden, lnight, coverage", "noise_1d"),
            air_1h=await rows("SELECT eaqi, eaqi_pollutant, pm25_mean", "air_1h"),
            linked=frozenset(r["device"] for r in linked),
            failed=await _failed(session, influx, within),
        )


async def _failed(
    session: aiohttp.ClientSession, influx: InfluxSettings, within: str
) -> list[dict[str, Any]]:
    """Raw points of every kind with at least one ``<field>_qc`` = FAIL."""
    failed: list[dict[str, Any]] = []
    for kind in Kind:
        flags = [f'"{f.name}_qc"' for f in FIELDS[kind]]
        any_failed = " OR ".join(f"{flag} = {FAIL}" for flag in flags)
        query = (
            f"SELECT {', '.join(flags)} FROM {influxql_source(kind.value, influx)} "  # noqa: S608 - schema and settings names, integers
            f"WHERE ({any_failed}) AND {within} GROUP BY device, district"
        )
        failed += [{**r, "kind": kind.value} for r in await query_rows(session, influx, query)]
    return failed


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9
