"""`/api/status`: what the status page shows, from a service fed by the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.privacy import coarsen
from ingest.settings import PrivacySettings
from simulators.servers import InfluxV1, Mosquitto, request
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, public_names, simulate, wait_for_accounting

pytestmark = pytest.mark.slow


def test_status_lists_devices_and_dead_letters_without_personal_details(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=10, seed=31)
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        manifest = simulate(tmp_path, mosquitto.port, "--messages", "600", "--seed", "31")
        wait_for_accounting(service, len(manifest))
        response = request("GET", f"{service.url}/api/status")
    status = response.json()
    names = public_names(tmp_path)
    assert status["received"] == len(manifest)
    assert {d["device"] for d in status["devices"]} == set(names.values())
    seen = [d for d in status["devices"] if d["last_seen_ns"]]
    assert len(seen) >= 25
    assert all(d["qc"] in (1, 3, 4) for d in seen if d["kind"] != "waste" or d["qc"])
    letters = status["dead_letters"]
    assert letters
    assert {d["reason"] for d in letters} <= {"bad_envelope", "bad_payload", "unknown_device"}
    text = response.body.decode()
    for dev_eui in names:  # DevEUIs are identifiers, never shown
        assert dev_eui not in text
    grid = PrivacySettings().location_grid_m
    rows = {
        row.split(",")[1]: row.split(",")
        for row in (tmp_path / "devices.csv").read_text(encoding="utf-8").splitlines()[1:]
    }
    for device in status["devices"]:
        if device["device"].startswith("citizen-"):
            eui = next(e for e, n in names.items() if n == device["device"])
            row = next(r for r in rows.values() if r[0] == eui)
            assert (device["lat"], device["lon"]) == tuple(
                round(c, 5) for c in coarsen(float(row[6]), float(row[7]), grid)
            )
            assert device["site"] == ""
    assert json.loads(text) == status
