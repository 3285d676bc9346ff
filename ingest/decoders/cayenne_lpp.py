"""Cayenne Low Power Payload v1: ``[channel][type][data]`` items, channels mapped per kind.

The type table is myDevices' Cayenne LPP v1 table (LPP type = IPSO Smart Object id minus 3200);
multi-byte values are big-endian, signed ones two's complement.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

import msgspec

from ingest.decoders.batch import decode_each
from ingest.decoders.config import ChannelSpec
from ingest.decoders.details import LENGTH_MISMATCH, LPP_TYPE_MISMATCH, LPP_UNKNOWN_TYPE
from ingest.decoders.scale import Scale
from ingest.errors import ConfigError, PayloadError
from ingest.model import Kind, Uplink
from ingest.readings import DecodedBatch
from ingest.schema import fields_of

__all__ = ["LPP_TYPES", "CayenneLppDecoder", "LppItem", "LppType", "LppTypeId", "parse_items"]


class LppTypeId(IntEnum):
    """Cayenne LPP v1 data type ids."""

    DIGITAL_INPUT = 0x00
    DIGITAL_OUTPUT = 0x01
    ANALOG_INPUT = 0x02
    ANALOG_OUTPUT = 0x03
    ILLUMINANCE = 0x65
    PRESENCE = 0x66
    TEMPERATURE = 0x67
    HUMIDITY = 0x68
    ACCELEROMETER = 0x71
    BAROMETER = 0x73
    GYROMETER = 0x86
    GPS = 0x88


_STRUCT_CODES: Final = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h"}


@dataclass(frozen=True, slots=True)
class LppType:
    """Size and meaning of one LPP type's data: one value per entry of ``resolutions``."""

    width: int  # bytes per value
    signed: bool
    resolutions: tuple[Scale, ...]
    unit: str | None  # schema unit of the value; None for dimensionless types
    size: int = field(init=False)  # data bytes of one item
    _struct: struct.Struct | None = field(init=False, repr=False)  # None for 24-bit values

    def __post_init__(self) -> None:
        code = _STRUCT_CODES.get((self.width, self.signed))
        layout = struct.Struct(">" + code * len(self.resolutions)) if code else None
        object.__setattr__(self, "size", self.width * len(self.resolutions))
        object.__setattr__(self, "_struct", layout)

    def values(self, data: bytes, offset: int = 0) -> tuple[float, ...]:
        """The item's values from the ``size`` data bytes at ``offset``."""
        if self._struct is not None:
            raws: tuple[int, ...] = self._struct.unpack_from(data, offset)
        else:
            w, signed = self.width, self.signed
            ends = range(offset + w, offset + self.size + 1, w)
            raws = tuple(int.from_bytes(data[end - w : end], "big", signed=signed) for end in ends)
        return tuple(map(Scale.apply, self.resolutions, raws))


def _one(width: int, signed: bool, resolution: float, unit: str | None = None) -> LppType:
    return LppType(width, signed, (Scale.of(resolution),), unit)


# Cayenne LPP v1 type table: data bytes, resolution per bit, signedness.
LPP_TYPES: Final[Mapping[int, LppType]] = {
    LppTypeId.DIGITAL_INPUT: _one(1, False, 1.0),
    LppTypeId.DIGITAL_OUTPUT: _one(1, False, 1.0),
    LppTypeId.ANALOG_INPUT: _one(2, True, 0.01),
    LppTypeId.ANALOG_OUTPUT: _one(2, True, 0.01),
    LppTypeId.ILLUMINANCE: _one(2, False, 1.0, "lx"),
    LppTypeId.PRESENCE: _one(1, False, 1.0),
    LppTypeId.TEMPERATURE: _one(2, True, 0.1, "°C"),
    LppTypeId.HUMIDITY: _one(1, False, 0.5, "%RH"),
    LppTypeId.ACCELEROMETER: LppType(2, True, (Scale.of(0.001),) * 3, "G"),
    LppTypeId.BAROMETER: _one(2, False, 0.1, "hPa"),
    LppTypeId.GYROMETER: LppType(2, True, (Scale.of(0.01),) * 3, "°/s"),
    # latitude and longitude 0.0001 °, altitude 0.01 m, each 24-bit signed
    LppTypeId.GPS: LppType(3, True, (Scale.of(0.0001), Scale.of(0.0001), Scale.of(0.01)), "°"),
}


class LppItem(msgspec.Struct, frozen=True, gc=False):
    """One decoded item of an LPP frame (a struct: several are built per uplink)."""

    channel: int
    type_id: int
    values: tuple[float, ...]


def parse_items(payload: bytes) -> list[LppItem]:
    """Every item of an LPP frame, in order; ``PayloadError`` if a type is unknown or cut short."""
    items: list[LppItem] = []
    position, length = 0, len(payload)
    while position < length:
        if position + 2 > length:
            raise PayloadError(
                LENGTH_MISMATCH,
                f"LPP item at byte {position} has a channel but no type byte",
            )
        channel, type_id = payload[position], payload[position + 1]
        lpp = LPP_TYPES.get(type_id)
        if lpp is None:
            raise PayloadError(
                LPP_UNKNOWN_TYPE,
                f"LPP item at byte {position} (channel {channel}) has type "
                f"{type_id:#04x}, not in Cayenne LPP v1; the frame cannot be read on",
            )
        start, end = position + 2, position + 2 + lpp.size
        if end > length:
            raise PayloadError(
                LENGTH_MISMATCH,
                f"LPP item at byte {position} (channel {channel}, type {type_id:#04x})"
                f" expected {lpp.size} data bytes, got {length - start}",
            )
        items.append(LppItem(channel, type_id, lpp.values(payload, start)))
        position = end
    return items


@dataclass(frozen=True, slots=True)
class _Target:
    field: str
    unit: str
    scale: Scale


class CayenneLppDecoder:
    """Decodes Cayenne LPP frames with a channel -> field map per kind."""

    def __init__(self, channels: Mapping[Kind, Mapping[int, ChannelSpec]]) -> None:
        self._targets = {
            kind: {
                channel: _Target(spec.field, fields_of(kind)[spec.field].unit, Scale.of(spec.scale))
                for channel, spec in entries.items()
            }
            for kind, entries in channels.items()
        }

    def decode(self, uplinks: Sequence[Uplink], kind: Kind) -> DecodedBatch:
        """Decode each uplink's frame; items on channels the kind does not map are skipped."""
        targets = self._targets.get(kind)
        if targets is None:
            key = f"decoders.cayenne_lpp.{kind}"
            raise ConfigError(
                key,
                f"no channel map for {kind} devices",
                f"add a [cayenne_lpp.{kind}] table or use another decoder",
            )
        fields = dict.fromkeys(target.field for target in targets.values())
        return decode_each(
            uplinks,
            kind,
            fields,
            lambda uplink: [(uplink.time_ns, _mapped(parse_items(uplink.payload), targets))],
        )


def _mapped(items: list[LppItem], targets: Mapping[int, _Target]) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        target = targets.get(item.channel)
        if target is None:
            continue
        lpp = LPP_TYPES[item.type_id]
        if len(item.values) != 1 or lpp.unit not in (None, target.unit):
            raise PayloadError(
                LPP_TYPE_MISMATCH,
                f"LPP channel {item.channel} carries type {item.type_id:#04x} ({lpp.unit or '-'},"
                f" {len(item.values)} value(s)) but is mapped to {target.field} ({target.unit}); "
                f"fix the channel map in decoders.toml",
            )
        values[target.field] = target.scale.apply(item.values[0])
    return values
