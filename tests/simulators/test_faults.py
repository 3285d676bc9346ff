"""Injected faults: the spec parser, every malformation carries its defect, and sensor faults
change exactly the readings the manifest marks, as documented."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter

import orjson
import pytest

from ingest.decoders.config import CAYENNE_LPP
from ingest.model import Device, Network, Outcome, Reason
from ingest.schema import fields_of
from simulators.faults import Malformation
from simulators.manifest import ManifestEntry, manifest_line
from simulators.sensor_faults import SensorFault, parse_fault_spec
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


ALL_FAULTS = (
    "stuck=0.01,spike=0.005,drift=0.01,dropout=0.01,out_of_range=0.002,pm_inversion=0.005,fog=0.01"
)
# Everything but dropouts: the main random stream then matches a run without faults.
VALUE_FAULTS = {
    SensorFault.STUCK: 0.3,
    SensorFault.DRIFT: 0.3,
    SensorFault.FOG: 0.2,
    SensorFault.SPIKE: 0.05,
    SensorFault.OUT_OF_RANGE: 0.03,
    SensorFault.PM_INVERSION: 0.05,
}
QUIET = {"malformed": 0.0, "duplicates": 0.0, "messages": 4000}


def test_fault_spec_parses_every_fault() -> None:
    faults = parse_fault_spec(ALL_FAULTS)
    assert set(faults) == set(SensorFault)
    assert faults[SensorFault.FOG] == 0.01


def test_faulty_runs_are_deterministic(build: Build) -> None:
    faults = parse_fault_spec(ALL_FAULTS.replace("0.0", "0.1"))
    first = [manifest_line(p.entry) for p in build(faults=faults, messages=1500)]
    assert first == [manifest_line(p.entry) for p in build(faults=faults, messages=1500)]
    injected = {orjson.loads(line)["fault"] for line in first} & {f.value for f in SensorFault}
    assert len(injected) >= 4


def _paired(build: Build) -> list[tuple[ManifestEntry, ManifestEntry]]:
    clean = [p.entry for p in build(**QUIET)]
    faulty = [p.entry for p in build(**QUIET, faults=VALUE_FAULTS)]
    assert [(e.dev_eui, e.time_ns, e.f_cnt) for e in clean] == [
        (e.dev_eui, e.time_ns, e.f_cnt) for e in faulty
    ]
    return list(zip(clean, faulty, strict=True))


def _changed(clean: ManifestEntry, faulty: ManifestEntry) -> dict[str, tuple[float, float]]:
    return {
        name: (clean.values[name], value)
        for name, value in faulty.values.items()
        if not math.isclose(value, clean.values[name], abs_tol=1e-9)
    }


def test_value_faults_change_only_their_readings_as_documented(build: Build) -> None:
    seen: Counter[str | None] = Counter()
    for clean, faulty in _paired(build):
        changed, fault = _changed(clean, faulty), faulty.fault
        seen[fault] += 1
        if fault is None:
            assert changed == {}
        elif fault == SensorFault.SPIKE:
            ((before, after),) = changed.values()
            assert abs(after - before) >= 7.9
        elif fault == SensorFault.OUT_OF_RANGE:
            ((name, (_, after)),) = changed.items()
            assert (
                not fields_of(faulty.kind)[name].low <= after <= fields_of(faulty.kind)[name].high
            )
        elif fault == SensorFault.PM_INVERSION:
            assert (faulty.values["pm25"], faulty.values["pm10"]) == (
                clean.values["pm10"],
                clean.values["pm25"],
            )
        elif fault == SensorFault.FOG:
            assert faulty.values["humidity"] >= 95.5
            assert faulty.values["pm25"] >= 3 * clean.values["pm25"] - 0.1
        else:
            assert len(changed) <= 1
    assert set(seen) == {None, *VALUE_FAULTS}


def _runs(build: Build, fault: SensorFault) -> list[list[tuple[ManifestEntry, ManifestEntry]]]:
    """Consecutive readings of one device with ``fault``, as (clean, faulty) pairs."""
    runs: list[list[tuple[ManifestEntry, ManifestEntry]]] = []
    current: dict[str, list[tuple[ManifestEntry, ManifestEntry]]] = {}
    for clean, faulty in _paired(build):
        if faulty.fault != fault:
            current.pop(faulty.dev_eui, None)
        elif faulty.dev_eui in current:
            current[faulty.dev_eui].append((clean, faulty))
        else:
            runs.append(current.setdefault(faulty.dev_eui, [(clean, faulty)]))
    return runs


def test_a_stuck_field_repeats_the_value_it_had_when_it_stuck(build: Build) -> None:
    runs = _runs(build, SensorFault.STUCK)
    assert len(runs) >= 3
    for run in runs:
        for n, (clean, faulty) in enumerate(run):
            changed = _changed(clean, faulty)
            assert len(changed) <= 1
            for name, (_, value) in changed.items():  # what the field read when it stuck
                assert value in {c.values[name] for c, _ in run[:n]}


def test_a_drifting_field_moves_away_at_a_steady_rate(build: Build) -> None:
    runs = _runs(build, SensorFault.DRIFT)
    assert len(runs) >= 2
    rates = []
    for run in runs:
        start = run[0][1].time_ns
        for clean, faulty in run:
            changed = _changed(clean, faulty)
            assert len(changed) <= 1
            hours = (faulty.time_ns - start) / 3.6e12
            for before, after in changed.values():
                assert abs(after - before) <= 3.0 * hours + 0.5  # fastest drift, quantisation
                if hours >= 4:
                    rates.append(abs(after - before) / hours)
    assert rates
    assert min(rates) >= 0.05


def test_dropouts_silence_the_device_and_mark_its_return(build: Build) -> None:
    entries = [p.entry for p in build(**QUIET, faults={SensorFault.DROPOUT: 0.3})]
    previous: dict[str, ManifestEntry] = {}
    marked = 0
    for entry in entries:
        before = previous.get(entry.dev_eui)
        previous[entry.dev_eui] = entry
        if entry.fault == SensorFault.DROPOUT and before is not None:
            marked += 1
            assert entry.time_ns - before.time_ns >= 3_600 * 10**9
            if entry.f_cnt is not None and before.f_cnt is not None and entry.f_cnt > before.f_cnt:
                assert entry.f_cnt - before.f_cnt > 1  # the frames were sent, and lost
    assert marked >= 3


def test_single_reading_faults_hit_their_fraction(build: Build) -> None:
    entries = [p.entry for p in build(**QUIET, faults={SensorFault.SPIKE: 0.1})]
    spikes = sum(e.fault == SensorFault.SPIKE for e in entries)
    assert abs(spikes - 400) <= 5 * math.sqrt(4000 * 0.1 * 0.9)
