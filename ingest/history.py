"""Raw readings back from InfluxDB as processor batches: for ``reaggregate`` and hand-over.

Points are read one day at a time over InfluxQL (v1 ``/query``; InfluxDB 2 serves it with a
DBRP mapping) and turned into the columnar batches and link blocks the processors take.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from typing import Any, TextIO

import aiohttp
import numpy as np
import numpy.typing as npt

from ingest.errors import SinkUnavailable
from ingest.model import Kind, Network
from ingest.progress import Progress
from ingest.schema import FIELDS
from ingest.settings import InfluxSettings
from ingest.sinks.retention import influxql_source
from ingest.transform import Links
from processors import Batch
from processors.qctests import count_flags

__all__ = ["query_rows", "read_history", "result_rows"]

log = logging.getLogger(__name__)
_DAY_NS = 86_400 * 10**9
_CHUNK_NS = _DAY_NS  # raw points are read one day at a time


async def read_history(
    session: aiohttp.ClientSession,
    influx: InfluxSettings,
    names: dict[str, int],
    kinds: list[Kind],
    span: tuple[int, int],
    *,
    stream: TextIO = sys.stderr,
) -> tuple[list[tuple[Kind, Batch]], Links | None]:
    """The raw readings of ``kinds`` in ``span`` (device codes by public ``names``) and, when
    every kind is read, their links (device health needs every kind's QC flags)."""
    readings: list[tuple[Kind, Batch]] = []
    flagged: tuple[Counter[_Key], Counter[_Key]] = (Counter(), Counter())  # suspect, fail
    for kind in kinds:
        batch = _batch(kind, await _read(session, influx, kind.value, span, stream), names)
        readings.append((kind, batch))
        _count_flags(batch, flagged)
    if set(kinds) != set(Kind):
        return readings, None
    rows = await _read(session, influx, "link", span, stream)
    return readings, _links(rows, names, flagged)


async def _read(
    session: aiohttp.ClientSession,
    influx: InfluxSettings,
    measurement: str,
    span: tuple[int, int],
    stream: TextIO,
) -> list[dict[str, Any]]:
    start_ns, end_ns = span
    rows: list[dict[str, Any]] = []
    chunks = -(-(end_ns - start_ns) // _CHUNK_NS)
    with Progress(f"read {measurement}", chunks, stream=stream) as progress:
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
    return result_rows(body, query)


def result_rows(body: dict[str, Any], query: str) -> list[dict[str, Any]]:
    """The rows of a ``/query`` answer, each with its series' tags; ``SinkUnavailable`` if
    InfluxDB reports an error."""
    rows: list[dict[str, Any]] = []
    for result in body.get("results", []):
        if "error" in result:
            raise SinkUnavailable(f"InfluxDB refused {query!r}: {result['error']}")
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
