"""Privacy: HMAC pseudonyms for citizen devices and coarsened locations."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.decoders import decoder_kinds, load_config
from ingest.errors import ConfigError
from ingest.model import Device, Kind, Owner
from ingest.privacy import Pseudonymizer, coarsen
from ingest.registry import Registry, load_registry
from tests.test_registry import AIR, BIN, CONFIG, write_registry

KEY = "0123456789abcdef0123456789abcdef"
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
CITIZEN = Device(
    code=0,
    dev_eui="0004A30B00696B6C",
    device_id="zaanstad-noise-002",
    kind=Kind.NOISE,
    decoder="cayenne-lpp",
    district="Assendelft",
    site="façade",
    lat=52.47,
    lon=4.74,
    owner=Owner.CITIZEN,
)
MUNICIPAL = replace(CITIZEN, dev_eui="70B3D57ED05D0DEF", owner=Owner.MUNICIPAL)


def test_pseudonym_is_stable_for_the_same_key() -> None:
    first = Pseudonymizer(KEY.encode()).name(CITIZEN)
    again = Pseudonymizer(KEY.encode()).name(replace(CITIZEN, device_id="renamed", code=7))
    assert first == again
    assert first.startswith("citizen-")
    assert len(first) == len("citizen-") + 16
    assert CITIZEN.device_id not in first
    assert CITIZEN.dev_eui.lower() not in first.lower()


def test_pseudonym_differs_for_another_key_and_device() -> None:
    name = Pseudonymizer(KEY.encode()).name(CITIZEN)
    assert Pseudonymizer(KEY.upper().encode()).name(CITIZEN) != name
    assert Pseudonymizer(KEY.encode()).name(replace(CITIZEN, dev_eui="0004A30B00696B6D")) != name


def test_municipal_device_keeps_its_name() -> None:
    assert Pseudonymizer(KEY.encode()).name(MUNICIPAL) == MUNICIPAL.device_id


def _registry(tmp_path_factory: pytest.TempPathFactory, owner: str) -> Registry:
    path = write_registry(
        tmp_path_factory.mktemp("registry") / "devices.csv", [AIR, BIN | {"owner": owner}]
    )
    return load_registry(path, decoder_kinds(load_config(CONFIG / "decoders.toml")))


def test_citizen_devices_need_a_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ConfigError) as caught:
        Pseudonymizer.for_registry(_registry(tmp_path_factory, "citizen"), None)
    assert caught.value.key == "privacy.pseudonym_key"
    assert "CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE" in caught.value.fix


def test_short_key_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ConfigError) as caught:
        Pseudonymizer.for_registry(_registry(tmp_path_factory, "citizen"), "short")
    assert caught.value.key == "privacy.pseudonym_key"
    assert "short" not in str(caught.value).replace("shorter", "")


def test_municipal_registry_needs_no_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    registry = _registry(tmp_path_factory, "municipal")
    names = Pseudonymizer.for_registry(registry, None)
    assert [names.name(d) for d in registry] == ["test-air-001", "test-waste-001"]


def test_for_registry_uses_the_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    registry = _registry(tmp_path_factory, "citizen")
    names = Pseudonymizer.for_registry(registry, KEY)
    citizen = registry.devices[1]
    assert names.name(citizen) == Pseudonymizer(KEY.encode()).name(citizen)
    assert names.name(citizen).startswith("citizen-")


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-80.0, 80.0),
    st.floats(-180.0, 180.0),
    st.floats(10.0, 5000.0),
)
def test_coarsened_point_stays_within_its_cell(lat: float, lon: float, grid_m: float) -> None:
    c_lat, c_lon = coarsen(lat, lon, grid_m)
    assert -90.0 <= c_lat <= 90.0
    assert -180.0 <= c_lon < 180.0
    assert _distance_m(lat, lon, c_lat, c_lon) <= grid_m * math.sqrt(2) / 2 * 1.01


@settings(max_examples=100, deadline=None)
@given(st.floats(-80.0, 80.0), st.floats(-179.0, 179.0), st.floats(10.0, 5000.0))
def test_points_of_one_cell_share_its_centre(lat: float, lon: float, grid_m: float) -> None:
    # the centre must not depend on where in its cell the point lies (it would leak it)
    centre = coarsen(lat, lon, grid_m)
    assert coarsen(centre[0], lon, grid_m) == centre


def test_coarsen_example() -> None:
    lat, lon = coarsen(52.4389, 4.8258, 250.0)
    assert _distance_m(52.4389, 4.8258, lat, lon) <= 250.0 * math.sqrt(2) / 2
    assert coarsen(52.4389 + 1e-6, 4.8258 + 1e-6, 250.0) == pytest.approx((lat, lon))
