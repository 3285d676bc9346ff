"""SenML JSON packs (RFC 8428) decoded and resolved into absolute, base-free records.

Resolution (RFC 8428 §4.6): base fields are sticky until set again, name = base name + name,
time = base time + time (relative to the receive time below 2**28 s), value = base value + value
for numbers, unit = unit or base unit. Records with no value field are skipped: KPN Things' legacy
layout opens a pack with a record holding only ``bn`` and ``bt``. Times are kept to the microsecond;
a data value (``vd``) stays its base64url text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from operator import attrgetter
from typing import Final

import msgspec

from ingest.envelopes._parsing import decode_json
from ingest.errors import EnvelopeError
from ingest.model import Message, SenmlRecord

__all__ = ["decode_pack"]


class _Record(msgspec.Struct, frozen=True, gc=False):
    """One SenML record with the JSON labels of RFC 8428 §4.3 that resolution uses."""

    bn: str | None = None
    bt: float | None = None
    bu: str | None = None
    bv: float | None = None
    bver: int | None = None
    n: str | None = None
    u: str | None = None
    v: float | None = None
    vs: str | None = None
    vb: bool | None = None
    vd: str | None = None
    t: float | None = None


_PACK: Final = msgspec.json.Decoder(list[_Record])
_LABELS: Final = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])

# A label ending in "_" shows as `_"` in the JSON text, or is written with an escape.
_MAY_HAVE_MUST_UNDERSTAND: Final = re.compile(rb'_"|\\u')
_VERSION: Final = 10  # RFC 8428 §4.4: the version of this specification, and the default
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*")  # RFC 8428 §4.5.1
_RELATIVE_BELOW: Final = 2.0**28  # RFC 8428 §4.5.3: smaller times are relative to "now"
_MAX_SECONDS: Final = 2.0**40  # far beyond any plausible time, small enough to convert exactly


@dataclass(slots=True)
class _Base:
    """The base fields in force while walking a pack."""

    name: str = ""
    time: float = 0.0
    unit: str | None = None
    value: float = 0.0


def decode_pack(message: Message) -> list[SenmlRecord]:
    """The resolved records of the SenML JSON pack in ``message``, sorted by time."""
    records = decode_json(message, _PACK, "array")
    if _MAY_HAVE_MUST_UNDERSTAND.search(message.payload) is not None:
        _check_labels(_LABELS.decode(message.payload))  # the same, valid, JSON: cannot fail
    base = _Base()
    resolved = []
    for index, record in enumerate(records):
        _apply_base(base, record, index)
        value = _value_of(record, base, index)
        if value is not None:
            unit = record.u if record.u is not None else base.unit
            time_ns = _time_of(record, base, message.received_ns, index)
            resolved.append(SenmlRecord(_name_of(record, base, index), unit, value, time_ns))
    resolved.sort(key=attrgetter("time_ns"))
    return resolved


def _check_labels(records: list[dict[str, msgspec.Raw]]) -> None:
    for index, record in enumerate(records):
        for label in record:
            if label.endswith("_"):
                raise EnvelopeError(
                    detail="senml.must_understand",
                    message=f"record {index}: label {label!r} must be understood (RFC 8428 §4.4); "
                    "city-ingest does not know it, so the pack cannot be used",
                )


def _apply_base(base: _Base, record: _Record, index: int) -> None:
    if record.bver is not None and record.bver != _VERSION:
        raise EnvelopeError(
            detail="senml.unsupported_version",
            message=f"record {index}: bver {record.bver}; "
            f"only SenML version {_VERSION} is understood",
        )
    if record.bn is not None:
        base.name = record.bn
    if record.bt is not None:
        base.time = record.bt
    if record.bu is not None:
        base.unit = record.bu
    if record.bv is not None:
        base.value = record.bv


def _value_of(record: _Record, base: _Base, index: int) -> float | str | bool | None:
    """The record's resolved value; None for a record without one (RFC 8428 §4.5.4)."""
    given = [value for value in (record.v, record.vs, record.vb, record.vd) if value is not None]
    if len(given) > 1:
        raise EnvelopeError(
            detail="senml.multiple_values",
            message=f"record {index} has more than one of v, vs, vb, vd",
        )
    if record.v is None:
        return given[0] if given else None
    value = base.value + record.v
    if not math.isfinite(value):
        raise EnvelopeError(
            detail="senml.bad_value", message=f"record {index}: bv + v overflows a double"
        )
    return value


def _name_of(record: _Record, base: _Base, index: int) -> str:
    name = base.name + (record.n or "")
    if _NAME.fullmatch(name) is None:
        raise EnvelopeError(
            detail="senml.bad_name",
            message=f"record {index}: name {name[:64]!r} must start with a letter or digit and use "
            "only A-Z a-z 0-9 - : . / _ (RFC 8428 §4.5.1)",
        )
    return name


def _time_of(record: _Record, base: _Base, received_ns: int, index: int) -> int:
    seconds = base.time + (record.t or 0.0)
    if not abs(seconds) < _MAX_SECONDS:
        raise EnvelopeError(
            detail="envelope.time_out_of_range",
            message=f"record {index}: bt + t = {seconds} s is absurd",
        )
    time_ns = round(seconds * 1_000_000) * 1000
    return received_ns + time_ns if seconds < _RELATIVE_BELOW else time_ns
