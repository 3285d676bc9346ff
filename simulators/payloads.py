"""Payload encoders for the simulator: the inverse of ``ingest.decoders``.

``encode_payload`` turns a device's true values into what the device would send, and reports
the values city-ingest will read back (quantised to the payload's resolution, clamped to what
it can carry), so the simulator's manifest holds exactly what lands in InfluxDB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from ingest.decoders import CAYENNE_LPP, NS_DECODED, DecoderConfig
from ingest.decoders.binary import field_values, layout_dtype
from ingest.decoders.cayenne_lpp import LPP_TYPES, LppTypeId
from ingest.decoders.config import INT_TYPES, ChannelSpec, FieldSpec, LayoutSpec, int_range
from ingest.decoders.ns_decoded import senml_unit
from ingest.decoders.scale import Scale
from ingest.model import Kind
from ingest.schema import fields_of

__all__ = ["EncodedPayload", "encode_payload", "senml_unit"]

LPP_PORT: Final = 1
NS_DECODED_PORT: Final = 1

# The LPP v1 type a device would use for a field of each schema unit; others go as analog input.
_LPP_TYPE_OF_UNIT: Final = {
    "°C": LppTypeId.TEMPERATURE,
    "%RH": LppTypeId.HUMIDITY,
    "hPa": LppTypeId.BAROMETER,
    "bool": LppTypeId.DIGITAL_INPUT,
}


@dataclass(frozen=True, slots=True)
class EncodedPayload:
    """An uplink's application data and the values city-ingest will decode from it."""

    payload: bytes
    f_port: int
    decoded: dict[str, object] | None  # the network server's decoded object (ns-decoded)
    values: dict[str, float]


def encode_payload(
    config: DecoderConfig, decoder: str, kind: Kind, values: Mapping[str, float]
) -> EncodedPayload:
    """Encode ``values`` (schema fields; NaN or absent = not measured) for ``decoder``.

    Fields the decoder cannot carry for ``kind`` are left out of the result's ``values``.
    ``ValueError`` for an unknown decoder, a layout of another kind, or a binary field without
    a ``missing`` value whose value is not given.
    """
    present = {name: value for name, value in values.items() if not math.isnan(value)}
    if decoder == NS_DECODED:
        return _encode_ns_decoded(kind, present)
    if decoder == CAYENNE_LPP:
        if kind not in config.cayenne_lpp:
            msg = f"decoders.toml has no [cayenne_lpp.{kind}] channel map"
            raise ValueError(msg)
        return _encode_lpp(kind, config.cayenne_lpp[kind], present)
    layout = config.layouts.get(decoder)
    if layout is None or layout.kind != kind:
        msg = f"decoders.toml has no layout {decoder!r} for {kind} devices"
        raise ValueError(msg)
    return _encode_binary(decoder, layout, present)


def _encode_ns_decoded(kind: Kind, values: Mapping[str, float]) -> EncodedPayload:
    fields = fields_of(kind)
    decoded: dict[str, object] = {}
    read_back: dict[str, float] = {}
    for name, value in values.items():
        if name in fields:
            number = float(value != 0) if fields[name].boolean else float(value)
            decoded[name] = bool(number) if fields[name].boolean else number
            read_back[name] = number
    return EncodedPayload(b"", NS_DECODED_PORT, decoded, read_back)


def _encode_lpp(
    kind: Kind, channels: Mapping[int, ChannelSpec], values: Mapping[str, float]
) -> EncodedPayload:
    fields = fields_of(kind)
    payload = bytearray()
    read_back: dict[str, float] = {}
    for channel, spec in sorted(channels.items()):
        name = spec.field
        if name not in values or name in read_back:  # a field goes on its lowest channel only
            continue
        type_id = _LPP_TYPE_OF_UNIT.get(fields[name].unit, LppTypeId.ANALOG_INPUT)
        lpp = LPP_TYPES[type_id]
        scale = Scale.of(spec.scale)
        raw = _clamped_raw(
            lpp.resolutions[0].unapply(scale.unapply(values[name])),
            *int_range(lpp.width, lpp.signed),
        )
        data = raw.to_bytes(lpp.width, "big", signed=lpp.signed)
        payload += bytes((channel, type_id)) + data
        read_back[name] = scale.apply(lpp.values(data)[0])
    return EncodedPayload(bytes(payload), LPP_PORT, None, read_back)


def _encode_binary(name: str, layout: LayoutSpec, values: Mapping[str, float]) -> EncodedPayload:
    frame = np.zeros(1, dtype=layout_dtype(layout))
    for spec in layout.fields:
        frame[spec.name] = _binary_raw(name, spec, values.get(spec.name))
    read_back = {
        spec.name: float(field_values(spec, frame[spec.name])[0])
        for spec in layout.fields
        if spec.store
    }
    present = {field: value for field, value in read_back.items() if not math.isnan(value)}
    return EncodedPayload(frame.tobytes(), layout.ports[0], None, present)


def _binary_raw(layout: str, spec: FieldSpec, value: float | None) -> int:
    if value is None:
        if spec.missing is not None:
            return spec.missing
        if not spec.store:
            return 0
        msg = f"layout {layout} has no `missing` value for {spec.name}: give its value"
        raise ValueError(msg)
    low, high = int_range(*INT_TYPES[spec.type])
    if spec.mask is not None:
        low, high = max(low, 0), min(high, spec.mask)
    raw = _clamped_raw(Scale.of(spec.scale).unapply(value - spec.offset), low, high)
    if raw == spec.missing:  # the sentinel would read back as "not measured": step inside
        raw += -1 if raw == high else 1
    return raw


def _clamped_raw(raw: float, low: int, high: int) -> int:
    """``raw`` rounded to the nearest integer the payload can carry."""
    return round(min(max(raw, low), high))
