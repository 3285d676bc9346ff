"""The manifest: one JSON line per published message, the ground truth tests compare against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.model import Kind, Network, Outcome, Reason

__all__ = ["ManifestEntry", "manifest_line", "read_manifest"]


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """What was published and what city-ingest must make of it (contract §6, §7).

    ``values`` are the quantised values the service decodes, exactly what must land in InfluxDB;
    empty unless ``expect`` is ``written``. ``f_cnt`` is None where the message carries none (KPN).
    ``detail`` is a prefix of the dead letter's detail code.
    """

    seq: int
    topic: str
    network: Network
    dev_eui: str
    device_id: str | None  # None for a device that is not in the registry
    kind: Kind
    f_cnt: int | None
    time_ns: int
    values: dict[str, float]
    fault: str | None
    expect: Outcome
    reason: Reason | None
    detail: str | None


def manifest_line(entry: ManifestEntry) -> bytes:
    """``entry`` as one JSON line, fields in declaration order."""
    return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)


def read_manifest(path: Path) -> list[dict[str, object]]:
    """The entries of a manifest file as plain JSON objects, in publish order."""
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]
