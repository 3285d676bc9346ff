"""A ``DecodedBatch`` assembled from decoders that read one uplink at a time."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence

import numpy as np

from ingest.decoders.details import NO_KNOWN_FIELDS, NON_FINITE
from ingest.errors import PayloadError
from ingest.model import Kind, Uplink
from ingest.readings import DecodedBatch

__all__ = ["Reading", "decode_each"]

Reading = tuple[int, dict[str, float]]
"""One row: its time (ns since the epoch, UTC) and the fields it has, by name."""


def decode_each(
    uplinks: Sequence[Uplink],
    kind: Kind,
    fields: Collection[str],
    readings_of: Callable[[Uplink], list[Reading]],
) -> DecodedBatch:
    """Call ``readings_of`` per uplink; a ``PayloadError`` puts that uplink in ``errors``.

    The batch has one column per name in ``fields`` (NaN where a row lacks it). An uplink whose
    readings hold no field, or a non-finite value, is an error too.
    """
    rows: list[int] = []
    times: list[int] = []
    found: list[dict[str, float]] = []
    errors: list[tuple[int, PayloadError]] = []
    for index, uplink in enumerate(uplinks):
        try:
            readings = _checked(readings_of(uplink), kind)
        except PayloadError as exc:
            errors.append((index, exc))
            continue
        for time_ns, values in readings:
            rows.append(index)
            times.append(time_ns)
            found.append(values)
    columns = {
        name: np.array([values.get(name, math.nan) for values in found], dtype=np.float64)
        for name in fields
    }
    return DecodedBatch(
        rows=np.array(rows, dtype=np.int64),
        time_ns=np.array(times, dtype=np.int64),
        columns=columns,
        errors=errors,
    )


def _checked(readings: list[Reading], kind: Kind) -> list[Reading]:
    if not any(values for _, values in readings):
        raise PayloadError(
            NO_KNOWN_FIELDS,
            f"nothing in the payload maps to a field of kind {kind}; "
            "map the device's keys or channels in decoders.toml",
        )
    for _, values in readings:
        for name, value in values.items():
            if not math.isfinite(value):
                raise PayloadError(
                    NON_FINITE,
                    f"{name} decoded to {value}; fix the device or its decoder",
                )
    return readings
