"""The generated fleet and the registry CSV it is written as and read from."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ingest.decoders.config import CAYENNE_LPP, NS_DECODED, DecoderConfig
from ingest.model import Kind, Owner
from simulators.fleet import generate_fleet, load_or_create_fleet, read_fleet, write_fleet
from tests.simulators.helpers import CONFIG

HEADER = (
    "dev_eui,device_id,kind,decoder,district,site,lat,lon,owner,empty_distance_mm,full_distance_mm"
)
ALLOWED_DECODERS = {
    Kind.AIR: {"city-air-v1", CAYENNE_LPP, NS_DECODED},
    Kind.NOISE: {"city-noise-v1", CAYENNE_LPP},
    Kind.WASTE: {"dragino-ldds75", NS_DECODED},
}


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    assert generate_fleet(5, seed=3) == generate_fleet(5, seed=3)
    assert generate_fleet(5, seed=3) != generate_fleet(5, seed=4)


def test_fleet_rows_are_realistic() -> None:
    devices = generate_fleet(40, seed=1)
    assert len(devices) == 120
    assert len({d.dev_eui for d in devices}) == 120
    for code, device in enumerate(devices):
        assert device.code == code
        assert re.fullmatch(r"[0-9A-F]{16}", device.dev_eui)
        assert re.fullmatch(rf"zaanstad-{device.kind}-\d{{3}}", device.device_id)
        assert device.decoder in ALLOWED_DECODERS[device.kind]
        assert 52.40 < device.lat < 52.52
        assert 4.72 < device.lon < 4.86
        if device.kind is Kind.WASTE:
            assert device.empty_distance_mm is not None
            assert device.full_distance_mm is not None
            assert device.empty_distance_mm > device.full_distance_mm >= 280
        else:
            assert device.empty_distance_mm is None
    citizen = sum(d.owner is Owner.CITIZEN for d in devices) / len(devices)
    assert 0.03 < citizen < 0.2
    assert len({d.district for d in devices}) >= 5
    for kind, allowed in ALLOWED_DECODERS.items():
        assert {d.decoder for d in devices if d.kind is kind} == allowed


def test_written_registry_reads_back_identically(tmp_path: Path, decoders: DecoderConfig) -> None:
    devices = generate_fleet(4, seed=9)
    path = tmp_path / "devices.csv"
    write_fleet(devices, path)
    assert path.read_text(encoding="utf-8").splitlines()[0] == HEADER
    assert read_fleet(path, decoders) == devices


def test_registry_is_written_once_then_read(tmp_path: Path, decoders: DecoderConfig) -> None:
    path = tmp_path / "devices.csv"
    created = load_or_create_fleet(path, 2, seed=1, decoders=decoders)
    assert path.exists()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["site"] = "edited by hand"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER.split(","), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    again = load_or_create_fleet(path, 7, seed=2, decoders=decoders)
    assert len(again) == len(created) == 6
    assert again[0].site == "edited by hand"


def test_shipped_example_registry_loads_and_covers_every_decoder(
    decoders: DecoderConfig,
) -> None:
    path = CONFIG / "devices.csv"
    assert path.read_text(encoding="utf-8").splitlines()[0] == HEADER
    devices = read_fleet(path, decoders)
    assert 10 <= len(devices) <= 15
    assert {d.kind for d in devices} == set(Kind)
    assert {d.decoder for d in devices} == {*decoders.layouts, CAYENNE_LPP, NS_DECODED}
    assert any(d.owner is Owner.CITIZEN for d in devices)
