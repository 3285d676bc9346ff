"""Cayenne LPP v1: the spec's worked examples, channel maps, errors, and a raw-item property."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.decoders.cayenne_lpp import LPP_TYPES, CayenneLppDecoder, LppItem, parse_items
from ingest.decoders.config import ChannelSpec, int_range
from ingest.errors import ConfigError, PayloadError
from ingest.model import Kind
from ingest.readings import Decoder

from .helpers import only_error, row, uplink

# uplink-formats §4 worked example: temperature, humidity, barometer and GPS (22 bytes)
WORKED_EXAMPLE = base64.b64decode("AWf/6QJomwVzJvYGiAf93AC/Af//ag==")


def test_worked_example_items() -> None:
    assert parse_items(WORKED_EXAMPLE) == [
        LppItem(channel=1, type_id=0x67, values=(-2.3,)),
        LppItem(channel=2, type_id=0x68, values=(77.5,)),
        LppItem(channel=5, type_id=0x73, values=(997.4,)),
        LppItem(channel=6, type_id=0x88, values=(52.374, 4.8897, -1.5)),
    ]


def test_every_v1_type_has_its_size() -> None:
    sizes = {type_id: lpp.size for type_id, lpp in LPP_TYPES.items()}

    assert sizes == {
        0x00: 1, 0x01: 1, 0x02: 2, 0x03: 2, 0x65: 2, 0x66: 1,
        0x67: 2, 0x68: 1, 0x71: 6, 0x73: 2, 0x86: 6, 0x88: 9,
    }  # fmt: skip


def test_accelerometer_and_gyrometer_axes() -> None:
    payload = bytes.fromhex("07 71 03E8 FC18 000008 86 0064 FF9C 2710")

    items = parse_items(payload)

    assert items[0].values == (1.0, -1.0, 0.0)  # 0.001 G per bit
    assert items[1].values == (1.0, -1.0, 100.0)  # 0.01 °/s per bit


def test_worked_example_with_a_map_that_skips_gps() -> None:
    decoder = CayenneLppDecoder(
        {
            Kind.AIR: {
                1: ChannelSpec(field="temperature"),
                2: ChannelSpec(field="humidity"),
                5: ChannelSpec(field="pressure"),
            }
        }
    )

    batch = decoder.decode([uplink(WORKED_EXAMPLE)], Kind.AIR)

    assert row(batch) == {"temperature": -2.3, "humidity": 77.5, "pressure": 997.4}
    assert set(batch.columns) == {"temperature", "humidity", "pressure"}


def test_worked_example_against_shipped_air_map(decoders: dict[str, Decoder]) -> None:
    # the shipped map expects pm10 on channel 5 (analog) and no2 on channel 6: a barometer
    # there is a device/map disagreement, not a PM reading
    batch = decoders["cayenne-lpp"].decode([uplink(WORKED_EXAMPLE)], Kind.AIR)

    assert only_error(batch) == "payload.lpp_type_mismatch"
    assert "channel 5" in batch.errors[0][1].message


def test_tts_example_with_shipped_air_map(decoders: dict[str, Decoder]) -> None:
    payload = base64.b64decode("AWcA4QJofANzJ78EAgbWBQIJag==")  # uplink-formats §1.3

    batch = decoders["cayenne-lpp"].decode([uplink(payload)], Kind.AIR)

    assert row(batch) == {
        "temperature": 22.5,
        "humidity": 62.0,
        "pressure": 1017.5,
        "pm25": 17.5,
        "pm10": 24.1,
    }


def test_kpn_example_with_shipped_noise_map(decoders: dict[str, Decoder]) -> None:
    payload = bytes.fromhex("010216ee02021bda03021338")  # uplink-formats §3.5

    batch = decoders["cayenne-lpp"].decode([uplink(payload)], Kind.NOISE)

    assert row(batch) == {"laeq": 58.7, "lamax": 71.3, "lamin": 49.2}


def test_waste_distance_in_cm_scaled_to_mm(decoders: dict[str, Decoder]) -> None:
    payload = bytes.fromhex("01 02 1FB802 67 00B703 00 0109 65 0100")  # ch 9 unmapped

    batch = decoders["cayenne-lpp"].decode([uplink(payload)], Kind.WASTE)

    assert row(batch) == {"distance_mm": 812.0, "temperature": 18.3, "tilt": 1.0}


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        pytest.param("01 99 00", "payload.lpp_unknown_type", id="unknown-type"),
        pytest.param("01 67 00B7 02 73 27", "payload.length_mismatch", id="truncated-item"),
        pytest.param("01 67 00B7 02", "payload.length_mismatch", id="lone-channel-byte"),
        pytest.param("09 67 00B7", "payload.no_known_fields", id="only-unmapped-channels"),
        pytest.param("", "payload.no_known_fields", id="empty"),
        pytest.param("04 67 00B7", "payload.lpp_type_mismatch", id="temperature-on-pm25"),
    ],
)
def test_errors(decoders: dict[str, Decoder], payload: str, detail: str) -> None:
    batch = decoders["cayenne-lpp"].decode([uplink(bytes.fromhex(payload))], Kind.AIR)

    assert only_error(batch) == detail


def test_truncated_item_message_gives_sizes() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_items(bytes.fromhex("0688 07FDDC 00BF01"))

    assert "expected 9 data bytes, got 6" in caught.value.message


def test_bad_uplink_does_not_stop_the_batch(decoders: dict[str, Decoder]) -> None:
    uplinks = [
        uplink(bytes.fromhex("0167FF"), time_ns=1),
        uplink(bytes.fromhex("0167FFE9"), time_ns=2),
    ]

    batch = decoders["cayenne-lpp"].decode(uplinks, Kind.AIR)

    assert batch.rows.tolist() == [1]
    assert batch.time_ns.tolist() == [2]
    assert [index for index, _ in batch.errors] == [0]


def test_kind_without_map_is_a_config_error() -> None:
    decoder = CayenneLppDecoder({Kind.AIR: {1: ChannelSpec(field="temperature")}})

    with pytest.raises(ConfigError) as caught:
        decoder.decode([uplink(b"")], Kind.NOISE)

    assert caught.value.key == "decoders.cayenne_lpp.noise"


# --- property: the item parser equals a plain int.from_bytes reference ----------------------


@st.composite
def _items(draw: st.DrawFn) -> tuple[int, int, tuple[int, ...]]:
    type_id = draw(st.sampled_from(sorted(LPP_TYPES)))
    lpp = LPP_TYPES[type_id]
    low, high = int_range(lpp.width, lpp.signed)
    raws = tuple(draw(st.integers(low, high)) for _ in lpp.resolutions)
    return draw(st.integers(0, 255)), type_id, raws


@given(st.lists(_items(), max_size=6))
def test_parser_matches_reference(items: list[tuple[int, int, tuple[int, ...]]]) -> None:
    payload = b""
    expected = []
    for channel, type_id, raws in items:
        lpp = LPP_TYPES[type_id]
        payload += bytes((channel, type_id))
        payload += b"".join(r.to_bytes(lpp.width, "big", signed=lpp.signed) for r in raws)
        values = tuple(r * s.factor for r, s in zip(raws, lpp.resolutions, strict=True))
        expected.append((channel, type_id, values))

    parsed = parse_items(payload)

    assert [(i.channel, i.type_id) for i in parsed] == [(c, t) for c, t, _ in expected]
    for item, (_, _, values) in zip(parsed, expected, strict=True):
        assert item.values == pytest.approx(values, rel=1e-12)
