"""simulators.payloads.encode_payload is the inverse of the decoders, for every decoder and kind."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.decoders import CAYENNE_LPP, NS_DECODED, DecoderConfig, load_config
from ingest.model import Kind, SenmlRecord
from ingest.readings import Decoder
from ingest.schema import fields_of
from simulators.payloads import EncodedPayload, encode_payload, senml_unit

from .helpers import CONFIG_PATH, TIME_NS, row, uplink

# Realistic spans every decoder can carry (LPP analog input ends at 327.67; 327.67 cm = 3276.7 mm)
_SPANS = {
    "pm25": (0.0, 300.0),
    "pm10": (0.0, 300.0),
    "no2": (0.0, 300.0),
    "o3": (0.0, 300.0),
    "temperature": (-30.0, 60.0),
    "humidity": (0.0, 100.0),
    "pressure": (900.0, 1100.0),
    "laeq": (20.0, 140.0),
    "lamax": (20.0, 140.0),
    "lamin": (20.0, 140.0),
    "distance_mm": (0.0, 3000.0),
    "fill_pct": (0.0, 100.0),
    "battery_v": (2.5, 4.2),
}
# LPP v1 resolution of the type the encoder picks for each schema unit (analog input otherwise)
_LPP_RESOLUTION = {"°C": 0.1, "%RH": 0.5, "hPa": 0.1, "bool": 1.0}


def _combinations() -> list[tuple[str, Kind]]:
    layouts = load_config(CONFIG_PATH).layouts
    return [
        *((name, layout.kind) for name, layout in layouts.items()),
        *((CAYENNE_LPP, kind) for kind in Kind),
        *((NS_DECODED, kind) for kind in Kind),
    ]


def _value(name: str) -> st.SearchStrategy[float]:
    if name == "tilt":
        return st.sampled_from([0.0, 1.0])
    low, high = _SPANS[name]
    return st.floats(low, high, allow_nan=False)


@st.composite
def _values(draw: st.DrawFn, kind: Kind) -> dict[str, float]:
    """Some fields of ``kind`` with values; absent or NaN ones are not measured."""
    values = {}
    for name in fields_of(kind):
        choice = draw(st.sampled_from(["value", "absent", "nan"]))
        if choice != "absent":
            values[name] = draw(_value(name)) if choice == "value" else math.nan
    return values


def _tolerance(config: DecoderConfig, decoder: str, kind: Kind, name: str) -> float:
    """Half the resolution the decoder reads ``name`` with: the worst quantisation error."""
    if decoder == NS_DECODED:
        return 0.0
    if decoder == CAYENNE_LPP:
        channel = next(c for c, s in sorted(config.cayenne_lpp[kind].items()) if s.field == name)
        unit = fields_of(kind)[name].unit
        return _LPP_RESOLUTION.get(unit, 0.01) * abs(config.cayenne_lpp[kind][channel].scale) / 2
    spec = next(s for s in config.layouts[decoder].fields if s.name == name)
    return abs(spec.scale) / 2


def _complete(config: DecoderConfig, decoder: str, values: dict[str, float]) -> dict[str, float]:
    """Binary fields without a ``missing`` value must be measured."""
    if decoder not in config.layouts:
        return values
    required = [s.name for s in config.layouts[decoder].fields if s.store and s.missing is None]
    return {
        **values,
        **{name: _SPANS[name][0] for name in required if math.isnan(values.get(name, math.nan))},
    }


@pytest.mark.parametrize(("decoder", "kind"), _combinations())
@given(data=st.data())
def test_encode_then_decode_gives_the_reported_values(
    config: DecoderConfig,
    decoders: dict[str, Decoder],
    decoder: str,
    kind: Kind,
    data: st.DataObject,
) -> None:
    values = _complete(config, decoder, data.draw(_values(kind)))

    encoded = encode_payload(config, decoder, kind, values)
    batch = decoders[decoder].decode(
        [uplink(encoded.payload, f_port=encoded.f_port, decoded=encoded.decoded)], kind
    )

    measured = {name for name, value in values.items() if not math.isnan(value)}
    carried = measured & set(batch.columns)
    if not carried and decoder not in config.layouts:  # nothing sent: the decoder says so
        assert [e.detail for _, e in batch.errors] == ["payload.no_known_fields"]
        return
    assert batch.errors == []
    assert row(batch) == encoded.values
    assert set(encoded.values) == carried
    for name in carried:
        assert abs(encoded.values[name] - values[name]) <= _tolerance(
            config, decoder, kind, name
        ) * (1 + 1e-9)


@pytest.mark.parametrize("kind", list(Kind))
@given(data=st.data())
def test_ns_decoded_values_as_senml_records(
    config: DecoderConfig, decoders: dict[str, Decoder], kind: Kind, data: st.DataObject
) -> None:
    encoded = encode_payload(config, NS_DECODED, kind, data.draw(_values(kind)))
    assert encoded.decoded is not None
    records = tuple(
        SenmlRecord(name=name, unit=senml_unit(name), value=value, time_ns=TIME_NS)  # type: ignore[arg-type]
        for name, value in encoded.decoded.items()
    )

    batch = decoders[NS_DECODED].decode([uplink(records=records)], kind)

    if records:
        assert row(batch) == encoded.values
    else:
        assert [e.detail for _, e in batch.errors] == ["payload.no_decoded_object"]


def test_lpp_clamps_and_reports_what_it_sent(
    config: DecoderConfig, decoders: dict[str, Decoder]
) -> None:
    encoded = encode_payload(config, CAYENNE_LPP, Kind.AIR, {"pm25": 5000.0, "temperature": 18.34})

    assert encoded.values == {"pm25": 327.67, "temperature": 18.3}
    assert encoded.payload == bytes.fromhex("01 67 00B704 02 7FFF")


def test_binary_avoids_the_missing_sentinel(config: DecoderConfig) -> None:
    encoded = encode_payload(config, "city-air-v1", Kind.AIR, {"pm25": 1e9, "humidity": -5.0})

    assert encoded.values == {"pm25": 6553.4, "humidity": 0.0}
    assert encoded.payload[:2] == bytes.fromhex("FFFE")


def test_dragino_encoding_matches_the_worked_example(config: DecoderConfig) -> None:
    values = {"battery_v": 3.412, "distance_mm": 812.0, "temperature": 18.3, "sensor_flag": 1.0}

    encoded = encode_payload(config, "dragino-ldds75", Kind.WASTE, values)

    assert encoded == EncodedPayload(
        payload=bytes.fromhex("0D54032C0000B701"),
        f_port=2,
        decoded=None,
        values={"battery_v": 3.412, "distance_mm": 812.0, "temperature": 18.3},
    )


def test_ns_decoded_gives_a_boolean_tilt(config: DecoderConfig) -> None:
    encoded = encode_payload(
        config, NS_DECODED, Kind.WASTE, {"tilt": 1.0, "distance_mm": 812.0, "pm25": 3.0}
    )

    assert encoded.decoded == {"tilt": True, "distance_mm": 812.0}
    assert encoded.values == {"tilt": 1.0, "distance_mm": 812.0}


@pytest.mark.parametrize(
    ("decoder", "kind", "values", "message"),
    [
        ("city-noise-v1", Kind.NOISE, {"laeq": 60.0}, "no `missing` value for lamax"),
        ("city-noise-v1", Kind.AIR, {"pm25": 1.0}, "no layout 'city-noise-v1' for air"),
        ("lora-magic", Kind.AIR, {"pm25": 1.0}, "no layout 'lora-magic'"),
    ],
)
def test_encode_refuses_what_it_cannot_send(
    config: DecoderConfig, decoder: str, kind: Kind, values: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_payload(config, decoder, kind, values)


def test_lpp_for_a_kind_without_map(config: DecoderConfig) -> None:
    bare = config.model_copy(update={"cayenne_lpp": {}})

    with pytest.raises(ValueError, match=r"no \[cayenne_lpp.air\]"):
        encode_payload(bare, CAYENNE_LPP, Kind.AIR, {"pm25": 1.0})
