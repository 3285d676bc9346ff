"""Network-server decoded objects and KPN SenML records: aliases, coercion, units, rows."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ingest.decoders.ns_decoded import senml_unit
from ingest.model import Kind, SenmlRecord
from ingest.readings import Decoder
from ingest.schema import fields_of

from .helpers import TIME_NS, only_error, row, uplink

SECOND = 1_000_000_000


def _record(
    name: str, unit: str | None, value: float | str | bool, time_ns: int = TIME_NS
) -> SenmlRecord:
    return SenmlRecord(name=name, unit=unit, value=value, time_ns=time_ns)


def test_chirpstack_dragino_object(decoders: dict[str, Decoder]) -> None:
    # uplink-formats §2.3: Dragino's own codec, temperature as a string, flags not mapped
    decoded = {
        "Bat": 3.412,
        "Distance": 812,
        "Interrupt_flag": 0,
        "TempC_DS18B20": "18.30",
        "Sensor_flag": 1,
    }

    batch = decoders["ns-decoded"].decode([uplink(decoded=decoded)], Kind.WASTE)

    assert row(batch) == {"battery_v": 3.412, "distance_mm": 812.0, "temperature": 18.3}
    assert batch.time_ns.tolist() == [TIME_NS]
    assert set(batch.columns) == set(fields_of(Kind.WASTE))


def test_tts_cayenne_formatter_object(decoders: dict[str, Decoder]) -> None:
    # uplink-formats §1.3 decoded_payload
    decoded = {
        "temperature_1": 22.5,
        "relative_humidity_2": 62,
        "barometric_pressure_3": 1017.5,
        "analog_in_4": 17.5,
        "analog_in_5": 24.1,
    }

    batch = decoders["ns-decoded"].decode([uplink(decoded=decoded)], Kind.AIR)

    assert row(batch) == {
        "temperature": 22.5,
        "humidity": 62.0,
        "pressure": 1017.5,
        "pm25": 17.5,
        "pm10": 24.1,
    }


def test_schema_names_map_to_themselves_and_null_is_not_measured(
    decoders: dict[str, Decoder],
) -> None:
    decoded = {"laeq": " 61.2 ", "lamax": 80, "lamin": None, "LAmin": 40.5}

    batch = decoders["ns-decoded"].decode([uplink(decoded=decoded)], Kind.NOISE)

    assert row(batch) == {"laeq": 61.2, "lamax": 80.0, "lamin": 40.5}


def test_boolean_for_boolean_field(decoders: dict[str, Decoder]) -> None:
    batch = decoders["ns-decoded"].decode(
        [
            uplink(decoded={"tilt": True, "distance": 500}),
            uplink(decoded={"tilt": False, "distance": 1}),
        ],
        Kind.WASTE,
    )

    assert batch.columns["tilt"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("decoded", "detail"),
    [
        pytest.param({"temperature": True}, "payload.not_a_number", id="bool-for-number"),
        pytest.param({"temperature": "warm"}, "payload.not_a_number", id="word"),
        pytest.param({"temperature": [18.3]}, "payload.not_a_number", id="list"),
        pytest.param({"temperature": {"v": 1}}, "payload.not_a_number", id="object"),
        pytest.param({"temperature": 1e400}, "payload.non_finite", id="json-overflow"),
        pytest.param({"temperature": "NaN"}, "payload.non_finite", id="nan-string"),
        pytest.param({"distance": 10**400}, "payload.non_finite", id="huge-integer"),
        pytest.param({"Interrupt_flag": 0}, "payload.no_known_fields", id="unknown-keys"),
        pytest.param({}, "payload.no_known_fields", id="empty"),
        pytest.param({"temperature": None}, "payload.no_known_fields", id="only-null"),
        pytest.param(None, "payload.no_decoded_object", id="no-object"),
    ],
)
def test_object_errors(
    decoders: dict[str, Decoder], decoded: dict[str, Any] | None, detail: str
) -> None:
    batch = decoders["ns-decoded"].decode([uplink(b"\x01", decoded=decoded)], Kind.WASTE)

    assert only_error(batch) == detail


def test_kpn_pack_gives_one_row_per_time(decoders: dict[str, Decoder]) -> None:
    # uplink-formats §3.4, resolved: base name removed, bv applied, times absolute
    records = (
        _record("temperature", "Cel", 21.4),
        _record("temperature", "Cel", 20.9, TIME_NS - 300 * SECOND),
        _record("humidity", "%RH", 63.5),
        _record("pressure", "Pa", 101325.0),
        _record("batteryVoltage", "V", 3.61),
        _record("latitude", "lat", 52.09071),
        _record("locOrigin", None, "KPNLORA"),
    )

    batch = decoders["ns-decoded"].decode([uplink(records=records)], Kind.AIR)

    assert batch.rows.tolist() == [0, 0]
    assert batch.time_ns.tolist() == [TIME_NS - 300 * SECOND, TIME_NS]
    assert row(batch, 0) == {"temperature": 20.9}
    assert row(batch, 1) == {
        "temperature": 21.4,
        "humidity": 63.5,
        "pressure": 1013.25,
        "battery_v": 3.61,
    }


@pytest.mark.parametrize(
    ("kind", "record", "expected"),
    [
        (Kind.AIR, _record("pm25", "kg/m3", 1.25e-8), {"pm25": 12.5}),
        (Kind.AIR, _record("pm25", "ug/m3", 12.5), {"pm25": 12.5}),
        (Kind.AIR, _record("pressure", "hPa", 1013.2), {"pressure": 1013.2}),
        (Kind.AIR, _record("temperature", "K", 291.45), {"temperature": 18.3}),
        (Kind.AIR, _record("temperature", None, 18.3), {"temperature": 18.3}),
        (Kind.AIR, _record("batteryVoltage", "mV", 3610), {"battery_v": 3.61}),
        (Kind.WASTE, _record("distance", "m", 0.812), {"distance_mm": 812.0}),
        (Kind.WASTE, _record("distance", "cm", 81.2), {"distance_mm": 812.0}),
        (Kind.WASTE, _record("distance_mm", "mm", 812), {"distance_mm": 812.0}),
        (Kind.WASTE, _record("fill_pct", "/", 0.36), {"fill_pct": 36.0}),
        (Kind.WASTE, _record("fill_pct", "/100", 36), {"fill_pct": 36.0}),
        (Kind.WASTE, _record("tilt", "/", 1), {"tilt": 1.0}),
        (Kind.WASTE, _record("tilt", None, True), {"tilt": 1.0}),
        (Kind.NOISE, _record("LAeq", "dB", 62.5), {"laeq": 62.5}),
        (Kind.NOISE, _record("LAeq", "Bspl", 6.25), {"laeq": 62.5}),
        (Kind.NOISE, _record("LAmax", "dB", "71.3"), {"lamax": 71.3}),
    ],
)
def test_senml_units_convert_to_schema_units(
    decoders: dict[str, Decoder], kind: Kind, record: SenmlRecord, expected: dict[str, float]
) -> None:
    batch = decoders["ns-decoded"].decode([uplink(records=(record,))], kind)

    assert row(batch) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        pytest.param(
            _record("no2", "ppm", 0.02), "payload.unit_unknown", id="ppm-needs-molar-mass"
        ),
        pytest.param(_record("humidity", "%", 60), "payload.unit_unknown", id="ambiguous-percent"),
        pytest.param(
            _record("temperature", "%RH", 60), "payload.unit_unknown", id="wrong-quantity"
        ),
        pytest.param(_record("temperature", "Cel", "KPNLORA"), "payload.not_a_number", id="string"),
        pytest.param(_record("temperature", "Cel", True), "payload.not_a_number", id="boolean"),
        pytest.param(_record("pm25", "kg/m3", 1e300), "payload.non_finite", id="overflow"),
        pytest.param(
            _record("locOrigin", None, "KPNLORA"), "payload.no_known_fields", id="unmapped"
        ),
    ],
)
def test_senml_errors(decoders: dict[str, Decoder], record: SenmlRecord, detail: str) -> None:
    batch = decoders["ns-decoded"].decode([uplink(records=(record,))], Kind.AIR)

    assert only_error(batch) == detail


def test_records_take_precedence_over_an_object(decoders: dict[str, Decoder]) -> None:
    up = uplink(decoded={"temperature": 1.0}, records=(_record("temperature", "Cel", 2.0),))

    batch = decoders["ns-decoded"].decode([up], Kind.AIR)

    assert row(batch) == {"temperature": 2.0}


@pytest.mark.parametrize("kind", list(Kind))
def test_senml_unit_reads_back_unchanged(decoders: dict[str, Decoder], kind: Kind) -> None:
    records = tuple(
        _record(name, senml_unit(name), field.high if field.boolean else field.high - 0.3)
        for name, field in fields_of(kind).items()
    )

    batch = decoders["ns-decoded"].decode([uplink(records=records)], kind)

    assert row(batch) == {
        name: field.high if field.boolean else field.high - 0.3
        for name, field in fields_of(kind).items()
    }


def test_senml_unit_names() -> None:
    assert [
        senml_unit(n)
        for n in ("temperature", "pressure", "pm25", "distance_mm", "laeq", "battery_v")
    ] == [
        "Cel",
        "hPa",
        "ug/m3",
        "mm",
        "dB",
        "V",
    ]
    with pytest.raises(ValueError, match="not a schema field"):
        senml_unit("colour")


def test_nan_check_sees_every_row(decoders: dict[str, Decoder]) -> None:
    records = (_record("temperature", "Cel", 20.0, 1), _record("temperature", "Cel", math.inf, 2))

    batch = decoders["ns-decoded"].decode([uplink(records=records)], Kind.AIR)

    assert only_error(batch) == "payload.non_finite"
