"""The device registry: every bad row is a ConfigError naming the row and the column."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from ingest.decoders import decoder_kinds, load_config
from ingest.errors import ConfigError
from ingest.model import Kind, Owner
from ingest.registry import COLUMNS, Registry, load_registry

CONFIG = Path(__file__).resolve().parents[1] / "config"
KINDS = decoder_kinds(load_config(CONFIG / "decoders.toml"))

AIR = {
    "dev_eui": "70b3d57ed0ca51ce",
    "device_id": "test-air-001",
    "kind": "air",
    "decoder": "city-air-v1",
    "district": "Krommenie",
    "site": "lamp post 1",
    "lat": "52.5",
    "lon": "4.76",
    "owner": "municipal",
    "empty_distance_mm": "",
    "full_distance_mm": "",
}
BIN = AIR | {
    "dev_eui": "A84041363DD027ED",
    "device_id": "test-waste-001",
    "kind": "waste",
    "decoder": "dragino-ldds75",
    "owner": "citizen",
    "empty_distance_mm": "1100",
    "full_distance_mm": "300",
}


def write_registry(
    path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(path: Path) -> Registry:
    return load_registry(path, KINDS)


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value


def test_shipped_registry_loads() -> None:
    registry = load(CONFIG / "devices.csv")
    assert len(registry) == 12
    assert {d.kind for d in registry} == set(Kind)


def test_good_registry(tmp_path: Path) -> None:
    registry = load(write_registry(tmp_path / "devices.csv", [AIR, BIN]))
    air = registry.get("70B3D57ED0CA51CE")  # DevEUIs are normalised to upper case
    waste = registry.get("A84041363DD027ED")
    assert air is not None
    assert waste is not None
    assert (air.code, waste.code) == (0, 1)
    assert air.kind is Kind.AIR
    assert waste.owner is Owner.CITIZEN
    assert (air.lat, air.lon) == (52.5, 4.76)
    assert (waste.empty_distance_mm, waste.full_distance_mm) == (1100.0, 300.0)
    assert math.isnan(registry.empty_mm[0])
    assert registry.empty_mm[1] == 1100.0
    assert registry.full_mm[1] == 300.0
    assert [d.device_id for d in registry] == ["test-air-001", "test-waste-001"]
    assert registry.get("0000000000000000") is None


@pytest.mark.parametrize(
    ("rows", "key", "hint"),
    [
        ([AIR, BIN | {"dev_eui": AIR["dev_eui"].upper()}], "devices.csv row 3 dev_eui", "twice"),
        ([AIR | {"dev_eui": "70B3D57ED0CA51"}], "devices.csv row 2 dev_eui", "16 hex digits"),
        ([AIR | {"dev_eui": "70B3D57ED0CA51CG"}], "devices.csv row 2 dev_eui", "16 hex digits"),
        ([AIR, AIR | {"decoder": "city-air-v9"}], "devices.csv row 3 decoder", "cayenne-lpp"),
        (
            [AIR | {"kind": "noise", "decoder": "dragino-ldds75"}],
            "devices.csv row 2 decoder",
            "does not decode noise",
        ),
        (
            [BIN | {"empty_distance_mm": "", "full_distance_mm": ""}],
            "devices.csv row 2 empty_distance_mm",
            "measure both distances",
        ),
        ([BIN | {"full_distance_mm": ""}], "devices.csv row 2 full_distance_mm", "> 0"),
        ([BIN | {"full_distance_mm": "1200"}], "devices.csv row 2 empty_distance_mm", "> 0"),
        ([BIN | {"full_distance_mm": "abc"}], "devices.csv row 2 full_distance_mm", "number"),
        ([AIR | {"lat": "91"}], "devices.csv row 2 lat", "[-90, 90]"),
        ([AIR | {"lat": "north"}], "devices.csv row 2 lat", "decimal number"),
        ([AIR | {"lon": "nan"}], "devices.csv row 2 lon", "not finite"),
        ([AIR | {"kind": "water"}], "devices.csv row 2 kind", "air, noise, waste"),
        ([AIR | {"owner": "private"}], "devices.csv row 2 owner", "municipal, citizen"),
        ([AIR | {"device_id": " "}], "devices.csv row 2 device_id", "public name"),
        ([AIR, BIN | {"device_id": "test-air-001"}], "devices.csv row 3 device_id", "own"),
        ([AIR | {"device_id": "air\\1"}], "devices.csv row 2 device_id", "backslash"),
        ([AIR | {"district": "Zaan\ndam"}], "devices.csv row 2 district", "control"),
    ],
)
def test_bad_rows_name_the_row_and_column(
    tmp_path: Path, rows: list[dict[str, str]], key: str, hint: str
) -> None:
    error = load_error(write_registry(tmp_path / "devices.csv", rows))
    assert error.key == key
    assert hint in str(error)


def test_missing_column_is_named(tmp_path: Path) -> None:
    columns = tuple(c for c in COLUMNS if c != "lat")
    error = load_error(write_registry(tmp_path / "devices.csv", [AIR], columns))
    assert error.key == "devices.csv column lat"
    assert "lat" in error.problem
    assert "dev_eui,device_id" in error.fix


def test_row_with_too_few_cells(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "devices.csv", [AIR])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("0004A30B00DF7BAF,short-row,air\n")
    error = load_error(path)
    assert error.key == "devices.csv row 3"
    assert "fewer cells" in error.problem


def test_row_with_too_many_cells(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "devices.csv", [AIR])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",".join([*BIN.values(), "surplus"]) + "\n")
    error = load_error(path)
    assert error.key == "devices.csv row 3"
    assert "more cells" in error.problem


def test_missing_file(tmp_path: Path) -> None:
    error = load_error(tmp_path / "devices.csv")
    assert error.key == "registry.path"


def test_not_utf8(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "devices.csv", [AIR])
    path.write_bytes(path.read_bytes().replace(b"Krommenie", b"Krommeni\xe9"))
    error = load_error(path)
    assert error.key == "registry.path"
    assert "UTF-8" in str(error)


def test_a_registry_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "devices.csv", [AIR, BIN])
    assert len(load_registry(path, KINDS, max_devices=2)) == 2
    with pytest.raises(ConfigError) as refused:
        load_registry(path, KINDS, max_devices=1)
    assert refused.value.key == "registry.max_devices"
    assert "more than 1 devices" in str(refused.value)
