"""``city-ingest reaggregate``: recompute aggregates from the raw points already in InfluxDB.

Reads every raw reading of the chosen kinds from ``--start`` minus one day (so the first
windows are whole: ``noise_1d`` spans a local day) to ``--end``, runs it through fresh
processors (the same code the service streams through), flushes at the end, and writes the
aggregate points whose window starts in [start, end). Points are idempotent, so this overwrites
what streaming wrote with the same values where streaming saw the same readings, and fills in
windows streaming missed (late readings beyond the update horizon, a crash's lost state).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt

from ingest.aggregation import Aggregator, points_lines
from ingest.errors import ConfigError, SinkUnavailable
from ingest.model import Kind, Network
from ingest.pipeline import Plan, plan
from ingest.progress import Progress
from ingest.schema import FIELDS
from ingest.settings import InfluxSettings, load_settings
from ingest.sinks.influx import InfluxSink
from ingest.sinks.retention import influxql_source
from ingest.timearg import instant_ns
from ingest.transform import Links, device_tag_suffixes
from processors import Batch, Points
from processors.qctests import count_flags

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)
_DAY_NS = 86_400 * 10**9
_CHUNK_NS = _DAY_NS  # raw points are read one day at a time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--start", type=instant_ns, required=True, help="ISO 8601 with offset")
    parser.add_argument("--end", type=instant_ns, required=True, help="ISO 8601 with offset")
    parser.add_argument(
        "--kind",
        choices=[k.value for k in Kind],
        action="append",
        help="only this kind (repeatable); default all",
    )


def run(args: argparse.Namespace) -> int:
    the_plan = plan(load_settings(args.config))
    kinds = [Kind(k) for k in args.kind] if args.kind else list(Kind)
    if args.end <= args.start:
        raise ConfigError("--end", "is not after --start", "give a later --end")
    written = asyncio.run(reaggregate(the_plan, kinds, args.start, args.end))
    log.info(
        "reaggregate wrote %d aggregate points for %s", written, ", ".join(k.value for k in kinds)
    )
    return 0


async def reaggregate(the_plan: Plan, kinds: list[Kind], start_ns: int, end_ns: int) -> int:
    """Recompute and write; returns the number of points written."""
    settings = the_plan.settings
    names = {the_plan.pseudonyms.name(d): d.code for d in the_plan.registry}
    tags = device_tag_suffixes(the_plan.registry, the_plan.pseudonyms.name)
    aggregator = Aggregator(settings.processors, the_plan.registry.empty_mm)  # fresh state
    points: list[Points] = []
    span = (start_ns - _DAY_NS, end_ns)
    flagged: tuple[Counter[_Key], Counter[_Key]] = (Counter(), Counter())  # suspect, fail
    async with aiohttp.ClientSession() as session:
        for kind in kinds:
            rows = await _read(session, settings.influxdb, kind.value, span)
            batch = _batch(kind, rows, names)
            points += aggregator.process([(kind, batch)])
            _count_flags(batch, flagged)
        if set(kinds) == set(Kind):  # device health needs every kind's QC flags
            links = _links(await _read(session, settings.influxdb, "link", span), names, flagged)
            points += aggregator.process([], [links])
    points += aggregator.flush(end_ns + _DAY_NS)
    chosen = [_within(p, start_ns, end_ns) for p in points]
    lines = points_lines([p for p in chosen if len(p)], tags)
    async with InfluxSink(settings.influxdb) as sink:
        result = await sink.write(lines, give_up_after=settings.influxdb.timeout * 6)
    for index, why in result.rejected:
        log.error("InfluxDB refused %s: %s", lines[index], why)
    return len(lines) - len(result.rejected)


async def _read(
    session: aiohttp.ClientSession, influx: InfluxSettings, measurement: str, span: tuple[int, int]
) -> list[dict[str, Any]]:
    start_ns, end_ns = span
    rows: list[dict[str, Any]] = []
    with Progress(f"read {measurement}", -(-(end_ns - start_ns) // _CHUNK_NS)) as progress:
        for chunk in range(start_ns, end_ns, _CHUNK_NS):
            until = min(chunk + _CHUNK_NS, end_ns)
            source = influxql_source(measurement, influx)
            query = f"SELECT * FROM {source} WHERE time >= {chunk} AND time < {until}"  # noqa: S608 - names of our own measurements and settings, and integers
            rows += await query_rows(session, influx, query + ' GROUP BY "device"')
            progress.advance()
    return rows


async def query_rows(
    session: aiohttp.ClientSession, influx: InfluxSettings, query: str
) -> list[dict[str, Any]]:
    """InfluxQL over the v1 ``/query`` endpoint (InfluxDB 2 serves it with a DBRP mapping)."""
    params = {"q": query, "db": influx.database, "epoch": "ns"}
    try:
        async with session.get(
            f"{influx.url}/query", params=params, headers=influx.auth_headers()
        ) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SinkUnavailable(f"{influx.url}/query: {type(exc).__name__}: {exc}") from exc
    rows: list[dict[str, Any]] = []
    for result in body.get("results", []):
        if "error" in result:
            raise SinkUnavailable(f"InfluxDB query failed: {result['error']}")
        for series in result.get("series", []):
            tags = series.get("tags", {})
            rows += [
                {**tags, **dict(zip(series["columns"], values, strict=True))}
                for values in series["values"]
            ]
    return rows


def _batch(kind: Kind, rows: list[dict[str, Any]], names: dict[str, int]) -> Batch:
    known = [r for r in rows if r.get("device") in names]
    if len(known) < len(rows):
        log.warning(
            "%d %s points belong to devices no longer in the registry: skipped",
            len(rows) - len(known),
            kind.value,
        )
    fields = [f.name for f in FIELDS[kind]]
    values = {f: np.array([_number(r.get(f)) for r in known], dtype=np.float64) for f in fields}
    qc = {f: np.array([int(r.get(f"{f}_qc") or 9) for r in known], dtype=np.uint8) for f in fields}
    return Batch(
        np.array([names[r["device"]] for r in known], dtype=np.int32),
        np.array([int(r["time"]) for r in known], dtype=np.int64),
        values,
        qc,
    )


_Key = tuple[int, int]  # (device code, time)


def _count_flags(batch: Batch, flagged: tuple[Counter[_Key], Counter[_Key]]) -> None:
    """Per uplink (device, time): how many fields QC flagged 3 and 4."""
    keys = list(zip(batch.device.tolist(), batch.time_ns.tolist(), strict=True))
    for counts, total in zip(flagged, count_flags(dict(batch.qc), len(batch)), strict=True):
        counts.update(dict(zip(keys, total.tolist(), strict=True)))


def _links(
    rows: list[dict[str, Any]], names: dict[str, int], flagged: tuple[Counter[_Key], Counter[_Key]]
) -> Links:
    known = [r for r in rows if r.get("device") in names]
    device = np.array([names[r["device"]] for r in known], dtype=np.int32)
    time_ns = np.array([int(r["time"]) for r in known], dtype=np.int64)
    keys = list(zip(device.tolist(), time_ns.tolist(), strict=True))

    def column(name: str) -> npt.NDArray[np.float64]:
        return np.array([_number(r.get(name)) for r in known], dtype=np.float64)

    def counts(which: Counter[_Key]) -> npt.NDArray[np.int64]:
        return np.array([which[key] for key in keys], dtype=np.int64)

    return Links(
        device=device,
        time_ns=time_ns,
        networks=[Network(r.get("network") or "tts") for r in known],
        rssi=column("rssi"),
        snr=column("snr"),
        gateways=column("gateways"),
        f_cnt=column("f_cnt"),
        battery_v=column("battery_v"),
        qc_suspect=counts(flagged[0]),
        qc_fail=counts(flagged[1]),
    )


def _number(value: object) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value)  # type: ignore[arg-type]


def _within(points: Points, start_ns: int, end_ns: int) -> Points:
    keep = (points.time_ns >= start_ns) & (points.time_ns < end_ns)
    return Points(
        points.measurement,
        points.device[keep],
        points.time_ns[keep],
        {k: v[keep] for k, v in points.fields.items()},
        None if points.tags is None else {k: v[keep] for k, v in points.tags.items()},
    )
