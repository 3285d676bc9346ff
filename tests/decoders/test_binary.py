"""Fixed binary layouts: hand-computed frames, errors, and a struct.unpack reference."""

from __future__ import annotations

import base64
import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.decoders.binary import BinaryDecoder
from ingest.decoders.config import INT_TYPES, FieldSpec, LayoutSpec, int_range
from ingest.errors import ConfigError
from ingest.model import Kind
from ingest.readings import Decoder

from .helpers import TIME_NS, only_error, row, uplink


def test_dragino_worked_example(decoders: dict[str, Decoder]) -> None:
    # domain notes §3.3: 0D54 & 3FFF = 3412 mV, 032C = 812 mm, 00B7 = 183 -> 18.3 °C
    payload = base64.b64decode("DVQDLAAAtwE=")

    batch = decoders["dragino-ldds75"].decode([uplink(payload, f_port=2)], Kind.WASTE)

    assert row(batch) == {"battery_v": 3.412, "distance_mm": 812.0, "temperature": 18.3}
    assert set(batch.columns) == {"battery_v", "distance_mm", "temperature"}  # flags not stored
    assert batch.rows.tolist() == [0]
    assert batch.time_ns.tolist() == [TIME_NS]


def test_dragino_masks_battery_and_signs_temperature(decoders: dict[str, Decoder]) -> None:
    # CD54: the top two bits are not battery; FF9C = -100 -> -10.0 °C
    payload = bytes.fromhex("CD54 1D4C 01 FF9C 00")

    batch = decoders["dragino-ldds75"].decode([uplink(payload, f_port=2)], Kind.WASTE)

    assert row(batch) == {"battery_v": 3.412, "distance_mm": 7500.0, "temperature": -10.0}


def test_city_air_frame(decoders: dict[str, Decoder]) -> None:
    payload = bytes.fromhex(
        "0064"  # pm25 100 -> 10.0
        "00C8"  # pm10 200 -> 20.0
        "FFFF"  # no2 missing
        "0190"  # o3 400 -> 40.0
        "FF38"  # temperature -200 -> -2.0
        "7B"  # humidity 123 -> 61.5
        "2797"  # pressure 10135 -> 1013.5
        "0E10"  # battery 3600 -> 3.6
    )

    batch = decoders["city-air-v1"].decode([uplink(payload)], Kind.AIR)

    assert row(batch) == {
        "pm25": 10.0,
        "pm10": 20.0,
        "o3": 40.0,
        "temperature": -2.0,
        "humidity": 61.5,
        "pressure": 1013.5,
        "battery_v": 3.6,
    }
    assert math.isnan(batch.columns["no2"][0])


def test_city_noise_frame(decoders: dict[str, Decoder]) -> None:
    payload = bytes.fromhex("0271 0320 01C2 FFFF")  # 62.5, 80.0, 45.0, battery missing

    batch = decoders["city-noise-v1"].decode([uplink(payload)], Kind.NOISE)

    assert row(batch) == {"laeq": 62.5, "lamax": 80.0, "lamin": 45.0}


def test_little_endian_offset_and_signed_32_bit() -> None:
    layout = LayoutSpec(
        kind=Kind.AIR,
        byte_order="little",
        ports=(5,),
        fields=(
            FieldSpec(name="pressure", type="u16", scale=0.1, offset=300.0),
            FieldSpec(name="temperature", type="i32", scale=0.001),
        ),
    )
    payload = bytes.fromhex("3412") + struct.pack("<i", -12345)  # 0x1234 = 4660

    batch = BinaryDecoder("le", layout).decode([uplink(payload, f_port=5)], Kind.AIR)

    assert row(batch) == {"pressure": 766.0, "temperature": -12.345}


def test_bad_uplinks_leave_good_ones_in_place(decoders: dict[str, Decoder]) -> None:
    good = base64.b64decode("DVQDLAAAtwE=")
    uplinks = [
        uplink(good[:7], f_port=2, time_ns=1),
        uplink(good, f_port=2, time_ns=2),
        uplink(good, f_port=3, time_ns=3),
        uplink(good, f_port=None, time_ns=4),
        uplink(good + b"\x00", f_port=2, time_ns=5),
        uplink(good, f_port=2, time_ns=6),
    ]

    batch = decoders["dragino-ldds75"].decode(uplinks, Kind.WASTE)

    assert batch.rows.tolist() == [1, 5]
    assert batch.time_ns.tolist() == [2, 6]
    assert batch.columns["distance_mm"].tolist() == [812.0, 812.0]
    details = {index: error.detail for index, error in batch.errors}
    assert details == {
        0: "payload.length_mismatch",
        2: "payload.unexpected_port",
        3: "payload.unexpected_port",
        4: "payload.length_mismatch",
    }
    assert "expected 8 bytes, got 7" in batch.errors[0][1].message


def test_wrong_length_alone(decoders: dict[str, Decoder]) -> None:
    batch = decoders["city-noise-v1"].decode([uplink(b"\x01\x02")], Kind.NOISE)

    assert only_error(batch) == "payload.length_mismatch"


def test_empty_batch(decoders: dict[str, Decoder]) -> None:
    batch = decoders["city-air-v1"].decode([], Kind.AIR)

    assert len(batch) == 0
    assert batch.columns["pm25"].shape == (0,)
    assert batch.errors == []


def test_layout_of_another_kind_is_a_config_error(decoders: dict[str, Decoder]) -> None:
    with pytest.raises(ConfigError) as caught:
        decoders["city-air-v1"].decode([uplink(b"")], Kind.NOISE)

    assert caught.value.key == "decoders.layouts.city-air-v1.kind"


# --- property: the vectorised decoder equals a per-uplink struct.unpack reference -----------

_STRUCT_CODES = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i"}


@st.composite
def _field_specs(draw: st.DrawFn, index: int) -> FieldSpec:
    type_name = draw(st.sampled_from(sorted(INT_TYPES)))
    size, _ = INT_TYPES[type_name]
    low, high = int_range(*INT_TYPES[type_name])
    return FieldSpec(
        name=f"f{index}",
        type=type_name,
        scale=draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, 0.5, 2.5, -0.25])),
        offset=draw(st.sampled_from([0.0, -40.0, 300.0])),
        mask=draw(st.none() | st.integers(1, (1 << (8 * size)) - 1)),
        missing=draw(st.none() | st.sampled_from([low, high, 0])),
        store=draw(st.booleans()),
    )


@st.composite
def _layouts(draw: st.DrawFn) -> LayoutSpec:
    count = draw(st.integers(1, 6))
    return LayoutSpec(
        kind=Kind.AIR,
        byte_order=draw(st.sampled_from(["big", "little"])),
        ports=(7,),
        fields=tuple(draw(_field_specs(i)) for i in range(count)),
    )


def _reference(layout: LayoutSpec, payload: bytes) -> dict[str, float]:
    """Plain per-uplink decoding: struct.unpack, then mask, scale, offset, missing."""
    order = ">" if layout.byte_order == "big" else "<"
    raws = struct.unpack(order + "".join(_STRUCT_CODES[f.type] for f in layout.fields), payload)
    values: dict[str, float] = {}
    for spec, raw in zip(layout.fields, raws, strict=True):
        if spec.store:
            masked = raw & spec.mask if spec.mask is not None else raw
            values[spec.name] = (
                math.nan if raw == spec.missing else masked * spec.scale + spec.offset
            )
    return values


@given(layout=_layouts(), data=st.data())
def test_decoder_matches_struct_reference(layout: LayoutSpec, data: st.DataObject) -> None:
    size = sum(INT_TYPES[f.type][0] for f in layout.fields)
    edgy = st.sampled_from([0x00, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)  # hits the sentinels
    frames = st.lists(edgy, min_size=size, max_size=size).map(bytes)
    payloads = data.draw(st.lists(frames | st.binary(max_size=size + 2), max_size=8))

    batch = BinaryDecoder("random", layout).decode(
        [uplink(p, f_port=7) for p in payloads], Kind.AIR
    )

    expected_rows = [i for i, p in enumerate(payloads) if len(p) == size]
    assert batch.rows.tolist() == expected_rows
    assert sorted(i for i, _ in batch.errors) == sorted(
        set(range(len(payloads))) - set(expected_rows)
    )
    for position, index in enumerate(expected_rows):
        reference = _reference(layout, payloads[index])
        decoded = {name: float(column[position]) for name, column in batch.columns.items()}
        assert decoded.keys() == reference.keys()
        np.testing.assert_allclose(list(decoded.values()), list(reference.values()), rtol=1e-12)
