"""InfluxDB line protocol, built per batch from columns.

Escaping follows the InfluxDB line protocol reference ("Special characters"): commas, spaces and
equals signs are backslash-escaped in tag keys, tag values and field keys; commas and spaces in
measurement names; string field values are double-quoted with ``"`` and ``\\`` escaped.
Backslashes in tags and keys are not escaped: InfluxDB 1.x stores ``\\\\`` there as two
backslashes, and a trailing one escapes the separator after it, so the device registry rejects
names with a backslash or a control character. Integers carry the ``i`` suffix. NaN means "no
value": the field is left out (as is ±inf, which InfluxDB answers with HTTP 400 for the whole
batch), and a point with no field at all is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = ["FieldType", "LineSpec", "escape_tag", "format_lines", "quote_string"]

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_INT64_LIMIT = 2.0**63  # floats below it convert to int64 exactly


class FieldType(Enum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One field column: its InfluxDB key and value type."""

    key: str
    type: FieldType


def escape_tag(value: str) -> str:
    """Escape a tag key, tag value or field key."""
    return value.translate(_TAG_ESCAPES)


def quote_string(value: str) -> str:
    """A string field value: double-quoted, with backslash and double quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_lines(
    measurement: str,
    tags: Sequence[str],
    time_ns: npt.NDArray[np.int64],
    fields: Mapping[LineSpec, npt.NDArray[np.generic] | Sequence[str | None]],
) -> list[tuple[int, str]]:
    """Lines for rows whose fields are not all missing, as (row index, line) pairs.

    ``tags[i]`` is the already escaped ``,key=value...`` suffix for row ``i``. The field sets
    are joined a column at a time: a few list passes instead of a join per row.
    """
    field_sets: list[str | None] = [None] * len(tags)
    for spec, values in fields.items():
        field_sets = _joined(field_sets, _render(spec, values))
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    return [
        (row, f"{head}{tag} {field_set} {stamp}")
        for row, (tag, field_set, stamp) in enumerate(
            zip(tags, field_sets, time_ns.tolist(), strict=True)
        )
        if field_set is not None
    ]


def _joined(left: list[str | None], right: list[str | None]) -> list[str | None]:
    """Per row, the two field texts joined by a comma, or the one that is there."""
    if None not in left and None not in right:
        return [f"{a},{b}" for a, b in zip(left, right, strict=True)]
    return [
        b if a is None else a if b is None else f"{a},{b}" for a, b in zip(left, right, strict=True)
    ]


def _render(
    spec: LineSpec, values: npt.NDArray[np.generic] | Sequence[str | None]
) -> list[str | None]:
    """``key=value`` per row, ``None`` where the value is missing (NaN, ±inf or ``None``)."""
    key = escape_tag(spec.key)
    if spec.type is FieldType.STRING:
        return [None if v is None else f"{key}={quote_string(str(v))}" for v in values]
    array = np.asarray(values, dtype=np.float64)
    present = np.isfinite(array)
    rendered: list[str | None]
    if spec.type is FieldType.FLOAT:
        rendered = [f"{key}={v!r}" for v in array.tolist()]
    elif spec.type is FieldType.INT:
        rendered = [f"{key}={v}i" for v in _integers(np.where(present, array, 0.0))]
    else:
        true, false = f"{key}=true", f"{key}=false"
        rendered = [true if v else false for v in array.tolist()]
    for row in np.flatnonzero(~present).tolist():
        rendered[row] = None
    return rendered


def _integers(array: npt.NDArray[np.float64]) -> list[int]:
    """The values truncated toward zero, as ``int()`` does."""
    if np.abs(array).max(initial=0.0) < _INT64_LIMIT:
        return array.astype(np.int64).tolist()  # type: ignore[no-any-return]
    return [int(v) for v in array.tolist()]
