"""The network server's own decoding: a decoded object (TTS, ChirpStack) or SenML records (KPN).

Keys and record names are mapped to schema fields by the kind's alias table in decoders.toml;
a schema field's own name always maps to itself. SenML units are converted to the schema's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from ingest.decoders.batch import Reading, decode_each
from ingest.decoders.config import AliasSpec
from ingest.decoders.details import NO_DECODED_OBJECT, NOT_A_NUMBER, UNIT_UNKNOWN
from ingest.decoders.scale import Scale
from ingest.errors import PayloadError
from ingest.model import Kind, SenmlRecord, Uplink
from ingest.readings import DecodedBatch
from ingest.schema import Field, fields_of

__all__ = ["NsDecodedDecoder", "senml_unit"]

_ONE: Final = (Scale.of(1.0), 0.0)

# schema unit -> SenML unit -> (scale, offset): schema value = SenML value * scale + offset.
# Primary units from the IANA SenML Units registry (RFC 8428 §12.1, RFC 8798); secondary units
# and their scales from the IANA Secondary Units registry (RFC 8798 §3).
_CONVERSIONS: Final[Mapping[str, Mapping[str, tuple[Scale, float]]]] = {
    "°C": {"Cel": _ONE, "K": (Scale.of(1.0), -273.15)},
    "%RH": {"%RH": _ONE},
    "hPa": {"hPa": _ONE, "Pa": (Scale.of(0.01), 0.0)},
    "µg/m³": {"ug/m3": _ONE, "kg/m3": (Scale.of(1e9), 0.0)},
    "V": {"V": _ONE, "mV": (Scale.of(0.001), 0.0)},
    "mm": {"mm": _ONE, "cm": (Scale.of(10.0), 0.0), "m": (Scale.of(1000.0), 0.0)},
    "dB(A)": {"dB": _ONE, "Bspl": (Scale.of(10.0), 0.0)},  # A-weighting is in the record name
    "%": {"/100": _ONE, "/": (Scale.of(100.0), 0.0)},  # "%" alone is ambiguous: not accepted
    "bool": {"/": _ONE},
}


def senml_unit(field_name: str) -> str:
    """The SenML unit in which a schema field's value is sent unchanged (``pressure`` -> hPa)."""
    units = {f.name: f.unit for kind in Kind for f in fields_of(kind).values()}
    if field_name not in units:
        msg = f"{field_name!r} is not a schema field"
        raise ValueError(msg)
    return next(u for u, conv in _CONVERSIONS[units[field_name]].items() if conv == _ONE)


class NsDecodedDecoder:
    """Reads what the network server decoded; the FRMPayload is not looked at."""

    def __init__(self, aliases: Mapping[Kind, Mapping[str, AliasSpec]]) -> None:
        self._names = {
            kind: {
                **{name: name for name in fields_of(kind)},
                **{key: alias.field for key, alias in aliases.get(kind, {}).items()},
            }
            for kind in Kind
        }

    def decode(self, uplinks: Sequence[Uplink], kind: Kind) -> DecodedBatch:
        """One row per uplink with a decoded object, one per distinct time of its SenML records."""
        names, fields = self._names[kind], fields_of(kind)

        def readings_of(uplink: Uplink) -> list[Reading]:
            if uplink.records:
                return _senml_readings(uplink.records, names, fields)
            if uplink.decoded is not None:
                return [(uplink.time_ns, _object_values(uplink.decoded, names, fields))]
            raise PayloadError(
                NO_DECODED_OBJECT,
                "the network server sent no decoded object; set a payload formatter / codec "
                "for the device there, or give it a binary decoder in the registry",
            )

        return decode_each(uplinks, kind, fields, readings_of)


def _object_values(
    decoded: Mapping[str, object], names: Mapping[str, str], fields: Mapping[str, Field]
) -> dict[str, float]:
    values: dict[str, float] = {}
    for key, raw in decoded.items():
        name = names.get(key)
        if name is not None and raw is not None:  # null: not measured
            values[name] = _number(raw, key, fields[name])
    return values


def _senml_readings(
    records: Sequence[SenmlRecord], names: Mapping[str, str], fields: Mapping[str, Field]
) -> list[Reading]:
    by_time: dict[int, dict[str, float]] = {}
    for record in records:
        name = names.get(record.name)
        if name is not None:
            value = _converted(
                _number(record.value, record.name, fields[name]), record, fields[name]
            )
            by_time.setdefault(record.time_ns, {})[name] = value
    return sorted(by_time.items())


def _number(raw: object, key: str, field: Field) -> float:
    if isinstance(raw, bool):
        if field.boolean:
            return float(raw)
    elif isinstance(raw, int | float):
        try:
            return float(raw)
        except OverflowError:  # an integer beyond the double range
            return math.inf if raw > 0 else -math.inf
    elif isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            pass
    raise PayloadError(
        NOT_A_NUMBER,
        f"{key!r} is {raw!r}; {field.name} needs a {'boolean' if field.boolean else 'number'}",
    )


def _converted(value: float, record: SenmlRecord, field: Field) -> float:
    if record.unit is None:  # RFC 8428 §4.5.3: the unit comes from context
        return value
    conversion = _CONVERSIONS[field.unit].get(record.unit)
    if conversion is None:
        raise PayloadError(
            UNIT_UNKNOWN,
            f"record {record.name!r} has unit {record.unit!r}, which does not convert to "
            f"{field.unit} for {field.name}; send one of {', '.join(_CONVERSIONS[field.unit])}",
        )
    scale, offset = conversion
    return scale.apply(value) + offset
