"""Service logs: JSON lines when configured, and never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators.servers import InfluxV1, Mosquitto, request
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, simulate, wait_for_accounting

pytestmark = pytest.mark.slow
SECRETS = {"INFLUXDB__PASSWORD": "influx-pw-7d1c5", "MQTT__PASSWORD": "mqtt-pw-93ab0"}


def test_json_logs_and_no_secret_anywhere(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=3, seed=41)
    env = {
        "CITY_INGEST_LOGGING__FORMAT": "json",
        "CITY_INGEST_INFLUXDB__USERNAME": "ingest",
        "CITY_INGEST_MQTT__USERNAME": "ingest",
        "CITY_INGEST_LOGGING__LEVEL": "debug",
    }
    for name, secret in SECRETS.items():
        path = tmp_path / name.lower()
        path.write_text(secret, encoding="utf-8")
        env[f"CITY_INGEST_{name}_FILE"] = str(path)
    with CityIngest(
        tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=env
    ) as service:
        manifest = simulate(tmp_path, mosquitto.port, "--messages", "200", "--seed", "41")
        wait_for_accounting(service, len(manifest))
        pages = [
            request("GET", f"{service.url}{path}").body.decode()
            for path in ("/metrics", "/readyz", "/api/status")
        ]
    log = service.log_text()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert records
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    assert any("MQTT connected" in record["message"] for record in records)
    for secret in SECRETS.values():
        assert secret not in log
        assert all(secret not in page for page in pages)
