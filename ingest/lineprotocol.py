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

    ``tags[i]`` is the already escaped ``,key=value...`` suffix for row ``i``.
    """
    rendered = [_render(spec, values) for spec, values in fields.items()]
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    out: list[tuple[int, str]] = []
    for row, (tag, stamp) in enumerate(zip(tags, time_ns.tolist(), strict=True)):
        parts = [part for column in rendered if (part := column[row]) is not None]
        if parts:
            out.append((row, f"{head}{tag} {','.join(parts)} {stamp}"))
    return out


def _render(
    spec: LineSpec, values: npt.NDArray[np.generic] | Sequence[str | None]
) -> list[str | None]:
    key = escape_tag(spec.key)
    if spec.type is FieldType.STRING:
        return [None if v is None else f"{key}={quote_string(str(v))}" for v in values]
    array = np.asarray(values, dtype=np.float64)
    present = np.isfinite(array)
    items = array.tolist()
    if spec.type is FieldType.FLOAT:
        return [
            f"{key}={v!r}" if ok else None for v, ok in zip(items, present.tolist(), strict=True)
        ]
    if spec.type is FieldType.INT:
        return [
            f"{key}={int(v)}i" if ok else None
            for v, ok in zip(items, present.tolist(), strict=True)
        ]
    return [
        f"{key}={'true' if v else 'false'}" if ok else None
        for v, ok in zip(items, present.tolist(), strict=True)
    ]
