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
from pathlib import Path

import aiohttp

from ingest.aggregation import Aggregator, points_lines
from ingest.errors import ConfigError
from ingest.history import read_history
from ingest.model import Kind
from ingest.plan import Plan, plan
from ingest.settings import load_settings
from ingest.sinks.influx import InfluxSink
from ingest.timearg import instant_ns
from ingest.transform import device_tag_suffixes
from processors import Points

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
    async with aiohttp.ClientSession() as session:
        readings, links = await read_history(session, settings.influxdb, names, kinds, span)
    for reading in readings:
        points += aggregator.process([reading])
    if links is not None:
        points += aggregator.process([], [links])
    points += aggregator.flush(end_ns + _DAY_NS)
    chosen = [_within(p, start_ns, end_ns) for p in points]
    lines = points_lines([p for p in chosen if len(p)], tags)
    async with InfluxSink(settings.influxdb) as sink:
        result = await sink.write(lines, give_up_after=settings.influxdb.timeout * 6)
    for index, why in result.rejected:
        log.error("InfluxDB refused %s: %s", lines[index], why)
    return len(lines) - len(result.rejected)


def _within(points: Points, start_ns: int, end_ns: int) -> Points:
    keep = (points.time_ns >= start_ns) & (points.time_ns < end_ns)
    return Points(
        points.measurement,
        points.device[keep],
        points.time_ns[keep],
        {k: v[keep] for k, v in points.fields.items()},
        None if points.tags is None else {k: v[keep] for k, v in points.tags.items()},
    )
