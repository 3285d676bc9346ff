"""Citizen-hosted devices on the status page, the API and in InfluxDB: no DevEUI, no registry
name, no exact position (coarsened to `privacy.location_grid_m`); the pseudonym is stable across
a restart and changes with the key."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path

import pytest

from ingest.privacy import coarsen
from simulators.servers import InfluxV1, Mosquitto, request
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, public_names, simulate, wait_for_accounting

pytestmark = pytest.mark.slow
GRID_M = 1000.0  # not the default, so the setting is what coarsens


def _status(service: CityIngest) -> dict[str, dict[str, object]]:
    return {d["device"]: d for d in request("GET", f"{service.url}/api/status").json()["devices"]}


def _shown(service: CityIngest, influx: InfluxV1) -> str:
    pages = [request("GET", f"{service.url}{p}").body.decode() for p in ("/api/status", "/")]
    tags = influx.query('SHOW TAG VALUES WITH KEY = "device"')
    return "\n".join([*pages, *(str(row) for row in tags)]).lower()


def test_citizen_devices_are_shown_only_by_pseudonym_and_grid_cell(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=6, seed=95)
    with (tmp_path / "devices.csv").open(encoding="utf-8") as rows:
        citizens = [row for row in csv.DictReader(rows) if row["owner"] == "citizen"]
    assert citizens, "the seeded fleet has no citizen device"
    env = {"CITY_INGEST_PRIVACY__LOCATION_GRID_M": str(GRID_M)}
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=env) as svc:
        manifest = simulate(tmp_path, mosquitto.port, "--messages", "150", "--seed", "95")
        wait_for_accounting(svc, len(manifest), timeout=20)
        status, shown = _status(svc), _shown(svc, influxdb)
        svc.restart()
        after_restart = set(_status(svc))
        key = tmp_path / "pseudonym.key"
        key.write_text(secrets.token_hex(32), encoding="utf-8")  # rotation: a new key
        svc.restart()
        after_rotation = set(_status(svc))
    names = public_names(tmp_path)  # with the new key
    for row in citizens:
        assert row["dev_eui"].lower() not in shown
        assert row["device_id"].lower() not in shown
        assert row["site"].lower() not in shown
        assert f"{float(row['lat']):.5f}" not in shown
        assert f"{float(row['lon']):.5f}" not in shown
    cells = {
        tuple(round(c, 5) for c in coarsen(float(r["lat"]), float(r["lon"]), GRID_M))
        for r in citizens
    }
    shown_citizens = {k: v for k, v in status.items() if k.startswith("citizen-")}
    assert len(shown_citizens) == len(citizens)
    assert {(d["lat"], d["lon"]) for d in shown_citizens.values()} <= cells
    assert after_restart == set(status)
    municipal = {n for n in status if not n.startswith("citizen-")}
    assert after_rotation & set(shown_citizens) == set()
    assert municipal <= after_rotation
    assert after_rotation == set(names.values())
