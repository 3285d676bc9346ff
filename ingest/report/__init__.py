"""``city-ingest report``: one local day as analysts and aldermen ask about it.

Read from the aggregates in InfluxDB (InfluxQL over the v1 ``/query`` endpoint):

- **bins to collect**: the bin's last hourly ``waste_state`` of the day is full (≥ the
  ``bin_full`` threshold) or full within the collection horizon (24 h), or a ``bin_full`` alert
  of the day was not followed by an emptying;
- **noise over the WHO guideline** (WHO 2018, road traffic): ``noise_1d`` Lden > 53 dB or
  Lnight > 45 dB, with the day's coverage;
- **poor air**: per district, the hours whose worst device ``air_1h`` EAQI is ≥ 4 (poor);
- **silent or faulty devices**: registry devices without a ``link`` point in the day, and
  devices with raw readings flagged QARTOD 4 (fail).

The day is local to ``processors.noise.timezone`` (Europe/Amsterdam by default). ``--plot DIR``
also writes PNG charts (``ingest.report.plots``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from ingest.errors import ConfigError
from ingest.plan import plan
from ingest.report.day import read_day
from ingest.report.formats import Format, render
from ingest.report.sections import sections
from ingest.settings import load_settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``city-ingest report``."""
    add = parser.add_argument
    add("--config", type=Path, required=True)
    add("--date", type=_date, required=True, help="the local day, YYYY-MM-DD")
    add("--district", help="only this district (as in the registry)")
    add("--format", choices=[f.value for f in Format], default=Format.TABLE.value)
    add("--plot", type=Path, metavar="DIR", help="also write PNG charts into this folder")


def run(args: argparse.Namespace) -> int:
    """Print the report (and write the charts); the exit code."""
    the_plan = plan(load_settings(args.config))
    known = sorted({d.district for d in the_plan.registry})
    if args.district is not None and args.district not in known:
        raise ConfigError(
            "--district",
            f"'{args.district}' is not a district of the registry",
            f"use one of: {', '.join(known)}",
        )
    day = asyncio.run(read_day(the_plan, args.date))
    processors = the_plan.settings.processors
    tables = sections(day, args.district, processors.noise, processors.waste)
    heading = f"city-ingest report {args.date.isoformat()}"
    if args.district:
        heading += f", {args.district}"
    sys.stdout.write(render(tables, heading, Format(args.format)))
    if args.plot is not None:
        from ingest.report.plots import write_plots  # noqa: PLC0415 - matplotlib loads only for --plot

        configs = (processors.air, processors.noise, processors.waste)
        for path in write_plots(day, args.district, configs, args.plot):
            sys.stderr.write(f"wrote {path}\n")
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        message = f"'{text}' is not a date: write YYYY-MM-DD"
        raise argparse.ArgumentTypeError(message) from exc
