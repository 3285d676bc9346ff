"""Injected faults: the spec parser, and every malformation really carries its defect."""

from __future__ import annotations

import base64
import binascii
import re

import orjson
import pytest

from ingest.decoders.config import CAYENNE_LPP
from ingest.model import Device, Network, Outcome, Reason
from ingest.schema import fields_of
from simulators.faults import Malformation, SensorFault, parse_fault_spec
from simulators.stream import Publication
from tests.simulators.helpers import Build

LAYOUT_BYTES = {"city-air-v1": 15, "city-noise-v1": 8, "dragino-ldds75": 8}
LPP_V1_TYPES = {0x00, 0x01, 0x02, 0x03, 0x65, 0x66, 0x67, 0x68, 0x71, 0x73, 0x86, 0x88}
LPP_SIZES = {0x02: 2, 0x67: 2, 0x68: 1, 0x73: 2, 0x00: 1}


def test_fault_spec_parses_known_names() -> None:
    assert parse_fault_spec("out_of_range=0.25") == {SensorFault.OUT_OF_RANGE: 0.25}
    assert parse_fault_spec(" out_of_range = 1 ,") == {SensorFault.OUT_OF_RANGE: 1.0}
    assert parse_fault_spec("") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gremlins=0.1", "unknown fault 'gremlins'"),
        ("out_of_range", "expected out_of_range=FRACTION"),
        ("out_of_range=1.5", "in [0, 1]"),
        ("out_of_range=lots", "in [0, 1]"),
    ],
)
def test_fault_spec_rejects_clearly(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_fault_spec(spec)
    if "unknown" in message:
        assert "known faults: stuck, spike, drift" in str(caught.value)


def _lpp_items(payload: bytes) -> list[int]:
    """The LPP v1 type ids of a payload; stops at an unknown type or a short item."""
    types, offset = [], 0
    while offset + 2 <= len(payload) and payload[offset + 1] in LPP_SIZES:
        types.append(payload[offset + 1])
        offset += 2 + LPP_SIZES[payload[offset + 1]]
    if offset != len(payload):
        types.append(-1)
    return types


def _payload_of(publication: Publication) -> bytes | None:
    body = orjson.loads(publication.payload)
    if publication.entry.network is Network.TTS:
        return base64.b64decode(body["uplink_message"].get("frm_payload", ""), validate=True)
    if publication.entry.network is Network.CHIRPSTACK:
        return base64.b64decode(body.get("data", ""), validate=True)
    raw = {r.get("n"): r.get("vs") for r in body}
    return bytes.fromhex(raw["payload"]) if "payload" in raw else None


def _check_defect(publication: Publication, decoder: str, known: set[str]) -> None:
    entry, body = publication.entry, publication.payload
    malformation = Malformation(str(entry.fault))
    if malformation in (Malformation.INVALID_JSON, Malformation.TRUNCATED_JSON):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
        return
    message = orjson.loads(body)
    if malformation is Malformation.NOT_OBJECT:
        assert isinstance(message, str)
        assert isinstance(orjson.loads(message), list if entry.network is Network.KPN else dict)
    elif malformation is Malformation.MISSING_DEV_EUI:
        assert entry.dev_eui not in body.decode().upper()
    elif malformation is Malformation.BAD_ENCODING:
        with pytest.raises((binascii.Error, ValueError)):
            _payload_of(publication)
    elif malformation is Malformation.WRONG_LENGTH:
        payload = _payload_of(publication)
        assert payload is not None
        if decoder == CAYENNE_LPP:
            assert _lpp_items(payload)[-1] == -1
        else:
            assert len(payload) != LAYOUT_BYTES[decoder]
    elif malformation is Malformation.LPP_UNKNOWN_TYPE:
        payload = _payload_of(publication)
        assert payload is not None
        assert payload[1] not in LPP_V1_TYPES
    elif malformation is Malformation.UNKNOWN_DEVICE:
        assert entry.dev_eui not in known
        assert entry.device_id is None
    else:
        assert malformation is Malformation.SIMULATED
        assert message["simulated"] is True


def test_every_malformation_carries_its_defect(build: Build, fleet: list[Device]) -> None:
    publications = build(messages=1500, malformed=1.0, duplicates=0.0)
    decoders = {d.dev_eui: d.decoder for d in fleet}
    known = set(decoders)
    seen = set()
    for publication in publications:
        entry = publication.entry
        assert entry.expect is Outcome.DEAD_LETTER
        assert entry.values == {}
        _check_defect(publication, decoders.get(entry.dev_eui, ""), known)
        seen.add(Malformation(str(entry.fault)))
    assert seen == set(Malformation)


def test_malformations_expect_the_service_reason_and_detail(build: Build) -> None:
    reasons: dict[tuple[str | None, Network], tuple[Reason | None, str | None]] = {}
    for publication in build(messages=1500, malformed=1.0, duplicates=0.0):
        entry = publication.entry
        reasons.setdefault((entry.fault, entry.network), (entry.reason, entry.detail))
    assert reasons[Malformation.WRONG_LENGTH, Network.TTS] == (
        Reason.BAD_PAYLOAD,
        "payload.length_mismatch",
    )
    assert reasons[Malformation.INVALID_JSON, Network.KPN] == (
        Reason.BAD_ENVELOPE,
        "envelope.json_invalid",
    )
    assert reasons[Malformation.NOT_OBJECT, Network.KPN] == (
        Reason.BAD_ENVELOPE,
        "envelope.not_an_array",
    )
    assert reasons[Malformation.NOT_OBJECT, Network.CHIRPSTACK] == (
        Reason.BAD_ENVELOPE,
        "envelope.not_an_object",
    )
    assert reasons[Malformation.UNKNOWN_DEVICE, Network.KPN][0] is Reason.UNKNOWN_DEVICE
    assert reasons[Malformation.SIMULATED, Network.TTS] == (
        Reason.BAD_ENVELOPE,
        "envelope.simulated",
    )
    assert all(
        network is Network.TTS for fault, network in reasons if fault == Malformation.SIMULATED
    )


def test_out_of_range_values_leave_the_physical_range_and_are_written(
    build: Build, fleet: list[Device]
) -> None:
    devices = {d.dev_eui: d for d in fleet}
    publications = build(
        messages=400, malformed=0.0, duplicates=0.0, faults={SensorFault.OUT_OF_RANGE: 0.5}
    )
    faulty = [p.entry for p in publications if p.entry.fault == SensorFault.OUT_OF_RANGE]
    assert 150 < len(faulty) < 250
    for entry in faulty:
        assert entry.expect is Outcome.WRITTEN
        fields = fields_of(entry.kind)
        outside = [n for n, v in entry.values.items() if not fields[n].low <= v <= fields[n].high]
        assert len(outside) == 1
    # every decoder carries the value as it is: none clamps it back into range
    assert {devices[e.dev_eui].decoder for e in faulty} == {d.decoder for d in fleet}
