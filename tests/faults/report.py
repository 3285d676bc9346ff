"""The fault scenarios' figures: one row per scenario, saved as JSON, printed as a table.

``python -m tests.faults.report [FILE]`` prints the table of a saved run (default: the file
the latest ``make faults`` wrote, see ``report_path``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

__all__ = ["Figures", "load_figures", "render_table", "report_path", "save_figures"]

REPORT_ENV = "CITY_INGEST_FAULTS_REPORT"


@dataclass(frozen=True, slots=True)
class Figures:
    """What one scenario published and where it ended.

    ``written`` and ``dead_lettered`` are uplinks of the manifest found in InfluxDB and in the
    dead-letter store; ``redelivered`` counts extra copies of dead letters (QoS 1 redelivery
    after a crash or broker restart); ``duplicate`` is the service's own ``duplicate`` count,
    summed over its lives (a SIGKILLed life counts up to its last scrape); ``missing`` are
    manifest entries found nowhere, ``extra`` points or dead letters the manifest does not
    explain. ``peak_rss_mib`` is the highest VmHWM of the service's processes.
    """

    scenario: str
    published: int
    written: int
    duplicate: int
    dead_lettered: int
    redelivered: int
    missing: int
    extra: int
    peak_rss_mib: float
    seconds: float


_HEADINGS = {
    "scenario": "scenario",
    "published": "published",
    "written": "written",
    "duplicate": "duplicate",
    "dead_lettered": "dead-lettered",
    "redelivered": "redelivered",
    "missing": "missing",
    "extra": "extra",
    "peak_rss_mib": "peak RSS MiB",
    "seconds": "seconds",
}


def report_path() -> Path:
    """Where the figures go: ``$CITY_INGEST_FAULTS_REPORT`` or a file in the temp dir."""
    default = Path(tempfile.gettempdir()) / "city-ingest-faults" / "figures.json"
    return Path(os.environ.get(REPORT_ENV, default))


def save_figures(rows: Sequence[Figures], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n", encoding="utf-8")


def load_figures(path: Path) -> list[Figures]:
    return [Figures(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def render_table(rows: Sequence[Figures]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs/reliability.md)."""
    names = [f.name for f in fields(Figures)]
    cells = [[_cell(getattr(row, name)) for name in names] for row in rows]
    header = [_HEADINGS[name] for name in names]
    widths = [max(len(c) for c in column) for column in zip(header, *cells, strict=True)]
    numeric = [name != "scenario" for name in names]

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|".join(
        "-" * (w + 1) + ":" if right else "-" * (w + 2)
        for w, right in zip(widths, numeric, strict=True)
    )
    return "\n".join([line(header), f"|{rule}|", *(line(c) for c in cells)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return str(value)


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else report_path()
    sys.stdout.write(render_table(load_figures(source)) + "\n")
