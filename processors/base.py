"""Columnar types the processors take and give: ``Batch`` in, ``Outputs`` (of ``Points``) out.

A processor is pure: it reads no clock and does no I/O. Time advances only from the event times
it is given (``process``) or from an explicit ``flush(until_ns)``.

Absent values in output fields: NaN in float fields, ``ABSENT_INT`` (-1) in int fields (every
int field is a count or an index ≥ 0), ``""`` in string fields. Writers skip absent values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "ABSENT_INT",
    "FAIL",
    "MISSING",
    "SETTINGS",
    "Batch",
    "BoolArray",
    "Float64Array",
    "Int32Array",
    "Int64Array",
    "Outputs",
    "Points",
    "Processor",
    "StrArray",
    "UInt8Array",
    "alert_points",
]

Float64Array = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
UInt8Array = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

# QARTOD flag values (IOOS QARTOD manual; ioos_qc ``QartodFlags``): FAIL and MISSING readings are
# kept in the raw measurement but excluded from every aggregate.
FAIL: Final = 4
MISSING: Final = 9

ABSENT_INT: Final = -1

# The processors' config classes are validated by pydantic as [processors] sub-tables
# (ingest.settings): refuse unknown keys, and take the docstring under a field as its
# description (docs/configuration.md).
SETTINGS: Final[dict[str, str | bool]] = {"extra": "forbid", "use_attribute_docstrings": True}

ALERT: Final = "alert"


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings of one kind as columns: one row per reading, any order, duplicates allowed.

    ``values`` holds one float64 column per field (NaN = not reported); ``qc`` the QARTOD flag
    column of a field, where validation produced one (a field without one counts as unflagged).
    Device codes are the registry's int32 codes (≥ 0).
    """

    device: Int32Array
    time_ns: Int64Array
    values: Mapping[str, Float64Array]
    qc: Mapping[str, UInt8Array] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time_ns.shape[0])

    def valid(self, name: str) -> Float64Array:
        """The column ``name`` with NaN wherever it is absent, FAIL or MISSING."""
        column = self.values.get(name)
        if column is None:
            return np.full(len(self), np.nan)
        flags = self.qc.get(name)
        if flags is None:
            return np.asarray(column, dtype=np.float64)
        return np.where((flags == FAIL) | (flags == MISSING), np.nan, column)

    def take(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Batch:
        """The rows selected by a mask or an index array, as a new batch."""
        return Batch(
            self.device[rows],
            self.time_ns[rows],
            {name: column[rows] for name, column in self.values.items()},
            {name: flags[rows] for name, flags in self.qc.items()},
        )


@dataclass(frozen=True, slots=True)
class Points:
    """Rows of one InfluxDB measurement, as columns.

    ``time_ns`` is the window start for aggregates and the event time for alerts. The pipeline
    turns ``device`` codes into the ``device``/``district`` tags; ``tags`` holds any others
    (the ``type`` of an alert).
    """

    measurement: str
    device: Int32Array
    time_ns: Int64Array
    fields: dict[str, npt.NDArray[Any]]
    tags: dict[str, StrArray] | None = None

    def __len__(self) -> int:
        return int(self.time_ns.shape[0])


@dataclass(frozen=True, slots=True)
class Outputs:
    """What one ``process``/``flush`` call produced: points to write and readings too late."""

    points: list[Points]
    late: Batch

    @property
    def late_count(self) -> int:
        """How many readings were older than the update horizon (they are in ``late``)."""
        return len(self.late)


class Processor(Protocol):
    """A windowed processor: columns in, columns out; state that can be saved and restored."""

    def process(self, batch: Batch) -> Outputs:
        """Fold the batch into the windows and emit every window the watermark has closed."""
        ...

    def flush(self, until_ns: int) -> Outputs:
        """Advance the watermark to ``until_ns`` and emit what that closes."""
        ...

    def snapshot(self) -> bytes:
        """The whole state, restorable with ``restore``."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the state with one ``snapshot`` returned."""
        ...


def alert_points(
    kind: str,
    device: Int32Array,
    time_ns: Int64Array,
    value: Float64Array,
    message: list[str],
) -> Points:
    """``alert`` points of one ``type`` (contract §4): fields ``value`` and ``message``."""
    return Points(
        ALERT,
        device.astype(np.int32, copy=False),
        time_ns.astype(np.int64, copy=False),
        {
            "value": value.astype(np.float64, copy=False),
            "message": np.array(message, dtype=np.str_),
        },
        {"type": np.full(len(message), kind)},
    )
