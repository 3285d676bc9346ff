"""``city-ingest qc-report``: how well the QC flags in InfluxDB find the simulator's faults.

The simulator's manifest (contract §6) names the fault injected into every uplink. Each
``written`` entry is matched to its point (device tag = the device's public name, time = the
uplink time); the reading counts as *flagged* when any ``<field>_qc`` of the point is ≥ 3
(SUSPECT or FAIL; MISSING is never stored). Per fault type:

- recall: flagged faulty readings / faulty readings;
- precision: flagged faulty readings / (those + *collateral*), where collateral are flagged clean
  readings right before or after a faulty reading of the same device (flags the fault spilled
  onto its neighbours);
- clean readings (no fault, or the first uplink after a dropout, whose values are clean): the
  false-flag rate = flagged / all, and which fields carried the flags.

A dropout leaves nothing to flag; it is scored on ``device_health.silent`` instead: an injected
gap (from the device's previous written uplink to the one marked ``dropout``) is found when a
silent hour of the device overlaps it; precision = silent device-hours overlapping a gap / all
silent device-hours. Hours after a device's last written uplink are left out: the manifest
cannot tell whether a dropout or the end of the run silenced it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ingest.errors import ConfigError, SinkUnavailable
from ingest.history import result_rows
from ingest.model import Kind
from ingest.plan import plan
from ingest.settings import InfluxSettings, load_settings
from ingest.sinks.retention import influxql_source
from simulators.manifest import read_manifest
from simulators.sensor_faults import SensorFault

__all__ = ["DropoutScore", "FaultScore", "QcScore", "add_arguments", "measure", "run", "score"]

Row = Mapping[str, Any]
_HOUR_NS: Final = 3_600 * 10**9
_FLAGGED: Final = 3  # QARTOD SUSPECT; FAIL (4) counts too
_SCORED: Final = tuple(f for f in SensorFault if f is not SensorFault.DROPOUT)


@dataclass(slots=True)
class FaultScore:
    """Readings with one fault type, how many were flagged, and flags on their neighbours."""

    readings: int = 0
    flagged: int = 0
    collateral: int = 0

    @property
    def recall(self) -> float:
        return self.flagged / self.readings if self.readings else float("nan")

    @property
    def precision(self) -> float:
        found = self.flagged + self.collateral
        return self.flagged / found if found else float("nan")


@dataclass(slots=True)
class DropoutScore:
    """Injected dropouts found as silent hours, and how many silent hours they explain."""

    gaps: int = 0
    found: int = 0
    silent_hours: int = 0
    silent_in_gaps: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.gaps if self.gaps else float("nan")

    @property
    def precision(self) -> float:
        return self.silent_in_gaps / self.silent_hours if self.silent_hours else float("nan")


@dataclass(slots=True)
class QcScore:
    """The whole comparison; ``table()`` renders it."""

    faults: dict[str, FaultScore] = field(default_factory=dict)
    clean: FaultScore = field(default_factory=FaultScore)
    clean_fields: Counter[str] = field(default_factory=Counter)
    dropout: DropoutScore = field(default_factory=DropoutScore)
    unmatched: int = 0  # written entries without a point

    @property
    def false_flag_rate(self) -> float:
        return self.clean.recall

    def table(self) -> str:
        lines = [
            f"{'fault':<14}{'readings':>10}{'flagged':>9}{'recall':>8}{'collat.':>9}{'prec.':>7}"
        ]
        for name, s in self.faults.items():
            lines.append(
                f"{name:<14}{s.readings:>10}{s.flagged:>9}{s.recall:>8.3f}"
                f"{s.collateral:>9}{s.precision:>7.3f}"
            )
        c, d = self.clean, self.dropout
        fields = ", ".join(f"{n} {k}" for n, k in self.clean_fields.most_common())
        lines += [
            f"{'clean':<14}{c.readings:>10}{c.flagged:>9}  "
            f"false-flag rate {self.false_flag_rate:.4f}" + (f" ({fields})" if fields else ""),
            f"{'dropout':<14}{d.gaps:>10} gaps, {d.found} found: recall {d.recall:.3f}; "
            f"{d.silent_hours} silent hours, {d.silent_in_gaps} in gaps: precision "
            f"{d.precision:.3f}",
        ]
        if self.unmatched:
            lines.append(f"{self.unmatched} written manifest entries have no point in InfluxDB")
        return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``city-ingest qc-report``."""
    add = parser.add_argument
    add("--manifest", type=Path, required=True, help="the simulator's manifest (JSON lines)")
    add(
        "--config",
        type=Path,
        required=True,
        help="the service's config: device registry and pseudonym key (public device names), "
        "InfluxDB credentials",
    )
    add("--influx-url", help="InfluxDB to query (default: the config's influxdb.url)")
    add("--database", help="database (default: the config's influxdb.database, city)")


def run(args: argparse.Namespace) -> int:
    """Query the flags of the manifest's time span, print the table; the exit code."""
    try:
        result = measure(args)
    except ConfigError as exc:
        sys.stderr.write(f"city-ingest qc-report: {exc}\n")
        return 2
    sys.stdout.write(result.table())
    return 0


def measure(args: argparse.Namespace) -> QcScore:
    """The comparison behind the table; ``ConfigError`` for an unusable manifest or URL."""
    settings = load_settings(args.config)
    the_plan = plan(settings)
    names = {d.dev_eui: the_plan.pseudonyms.name(d) for d in the_plan.registry}
    try:
        manifest: Sequence[Row] = read_manifest(args.manifest)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            "--manifest",
            f"cannot read {args.manifest}: {exc}",
            "pass the manifest the simulator wrote",
        ) from exc
    influx = settings.influxdb
    url = (args.influx_url or influx.url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            "--influx-url", f"{url!r} is not an http(s) URL", "add http:// or https://"
        )
    database = args.database or influx.database
    times = [int(e["time_ns"]) for e in manifest if e["expect"] == "written"] or [0]
    span = f"time >= {min(times) - _HOUR_NS} AND time <= {max(times) + _HOUR_NS}"
    # measurement names are the fixed Kind values and the span is two integers: no user text
    statements = {
        k.value: f"SELECT /_qc$/ FROM {influxql_source(k.value, influx)} WHERE {span} "  # noqa: S608
        'GROUP BY "device"'
        for k in Kind
    }
    statements["device_health"] = (
        f"SELECT silent FROM {influxql_source('device_health', influx)} WHERE {span} "  # noqa: S608
        'GROUP BY "device"'
    )
    rows = {name: _query(url, database, q, influx) for name, q in statements.items()}
    return score(manifest, rows, lambda eui: names.get(eui, eui))


def _query(url: str, database: str, influxql: str, influx: InfluxSettings) -> list[dict[str, Any]]:
    """Rows of one InfluxQL query (v1 ``/query``, also served by InfluxDB 2.x), tags merged in."""
    params = {"db": database, "q": influxql, "epoch": "ns"}
    query = f"{url}/query?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(query, headers=influx.auth_headers())  # noqa: S310 - http(s) checked by run
    try:
        with urllib.request.urlopen(request, timeout=influx.timeout) as response:  # noqa: S310 - see above
            body = json.load(response)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        raise SinkUnavailable(f"cannot query InfluxDB at {url}: {exc}") from exc
    return result_rows(body, influxql)


def score(
    manifest: Iterable[Row], rows: Mapping[str, Sequence[Row]], public_name: Callable[[str], str]
) -> QcScore:
    """Compare; ``rows`` maps each kind's measurement and ``device_health`` to its points as
    dicts with ``device``, ``time`` (ns) and fields, ``public_name(dev_eui)`` gives the tag."""
    flagged = {
        (str(r["device"]), int(r["time"])): _flagged_fields(r)
        for kind in Kind
        for r in rows.get(kind.value, ())
    }
    series: dict[str, list[Row]] = defaultdict(list)
    for entry in manifest:
        if entry["expect"] == "written":
            series[public_name(str(entry["dev_eui"]))].append(entry)
    result = QcScore(faults={f.value: FaultScore() for f in _SCORED})
    silent = _silent_hours(rows.get("device_health", ()))
    for device, entries in series.items():
        entries.sort(key=lambda e: int(e["time_ns"]))
        marks = [flagged.get((device, int(e["time_ns"]))) for e in entries]
        result.unmatched += sum(m is None for m in marks)
        _score_readings(entries, marks, result)
        _score_dropouts(entries, silent.get(device, set()), result.dropout)
    return result


def _flagged_fields(row: Row) -> list[str]:
    return [
        name.removesuffix("_qc")
        for name, value in row.items()
        if name.endswith("_qc") and value is not None and value >= _FLAGGED
    ]


def _score_readings(entries: list[Row], marks: list[list[str] | None], result: QcScore) -> None:
    """Count readings with a point (``marks``: its flagged fields; None: no point)."""
    faults = [e["fault"] if e["fault"] in result.faults else None for e in entries]
    for i, (fault, fields) in enumerate(zip(faults, marks, strict=True)):
        if fields is None:
            continue
        if fault is not None:
            result.faults[fault].readings += 1
            result.faults[fault].flagged += bool(fields)
            continue
        result.clean.readings += 1
        result.clean.flagged += bool(fields)
        result.clean_fields.update(fields)
        if fields:  # a flag next to a fault is that fault's collateral
            for near in {faults[j] for j in (i - 1, i + 1) if 0 <= j < len(faults)} - {None}:
                result.faults[str(near)].collateral += 1


def _silent_hours(rows: Sequence[Row]) -> dict[str, set[int]]:
    hours: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        if row.get("silent") in (True, 1, "true"):
            hours[str(row["device"])].add(int(row["time"]))
    return hours


def _score_dropouts(entries: list[Row], silent: set[int], score: DropoutScore) -> None:
    gaps = [
        (int(before["time_ns"]), int(after["time_ns"]))
        for before, after in itertools.pairwise(entries)
        if after["fault"] == SensorFault.DROPOUT
    ]
    last = int(entries[-1]["time_ns"])
    silent = {h for h in silent if h <= last}
    score.silent_hours += len(silent)
    covered: set[int] = set()
    for start, end in gaps:
        hours = {h for h in silent if h < end and h + _HOUR_NS > start}
        score.gaps += 1
        score.found += bool(hours)
        covered |= hours
    score.silent_in_gaps += len(covered)
