"""Hostile payloads: whatever arrives, a decoder returns rows or typed errors, never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decoders import build_decoders, load_config
from ingest.errors import PayloadError
from ingest.model import Kind, SenmlRecord

from .helpers import CONFIG_PATH, uplink

DECODERS = build_decoders(load_config(CONFIG_PATH))
KINDS = {  # every decoder with a kind it is configured for
    "city-air-v1": Kind.AIR,
    "city-noise-v1": Kind.NOISE,
    "dragino-ldds75": Kind.WASTE,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
keys = st.sampled_from(
    [
        "pm25",
        "temperature_1",
        "analog_in_4",
        "Distance",
        "Bat",
        "LAeq",
        "TempC_DS18B20",
        "humidity",
        "x",
    ]
)


def check(batch_errors: list[tuple[int, PayloadError]], rows: int, count: int) -> None:
    assert all(isinstance(error, PayloadError) for _, error in batch_errors)
    assert rows + len({i for i, _ in batch_errors}) >= count


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(st.binary(max_size=40), min_size=1, max_size=6), port=st.integers(0, 255))
def test_any_bytes_through_binary_and_lpp_decoders(
    kind: Kind, payloads: list[bytes], port: int
) -> None:
    names = ["cayenne-lpp", *(n for n, k in KINDS.items() if k is kind)]
    for name in names:
        batch = DECODERS[name].decode([uplink(p, f_port=port) for p in payloads], kind)
        check(batch.errors, len(set(batch.rows.tolist())), len(payloads))


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None)
@given(objects=st.lists(st.dictionaries(keys, json_values, max_size=4), min_size=1, max_size=4))
def test_any_decoded_object_through_ns_decoded(
    kind: Kind, objects: list[dict[str, object]]
) -> None:
    uplinks = [uplink(b"", decoded=o) for o in objects]
    batch = DECODERS["ns-decoded"].decode(uplinks, kind)
    check(batch.errors, len(set(batch.rows.tolist())), len(objects))


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(
        st.builds(
            SenmlRecord,
            name=keys,
            unit=st.none() | st.sampled_from(["Cel", "%RH", "Pa", "V", "m", "x"]),
            value=st.floats(allow_nan=True) | st.text(max_size=4) | st.booleans(),
            time_ns=st.integers(0, 2**62),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_senml_records_through_ns_decoded(kind: Kind, records: list[SenmlRecord]) -> None:
    batch = DECODERS["ns-decoded"].decode([uplink(b"", records=tuple(records))], kind)
    check(batch.errors, len(set(batch.rows.tolist())), 1)
