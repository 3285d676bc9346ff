"""Fixtures of the deployment checks: the files docker-compose.yml uses, the outputs of the
Makefile's `secrets` and `certs` targets, and a real InfluxDB filled by the service."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, simulate, wait_for_accounting

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CITY_DAYS = 6  # simulated days in the dashboards' InfluxDB, ending before today


def make(target: str, **variables: Path) -> subprocess.CompletedProcess[str]:
    """Run a target of the repository's Makefile with `NAME=value` overrides."""
    assignments = [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), target, *assignments],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed."""
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return parsed


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make secrets` writes (into a temp dir instead of ./secrets)."""
    folder = tmp_path_factory.mktemp("deploy") / "secrets"
    make("secrets", SECRETS_DIR=folder)
    return folder


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make certs` writes (into a temp dir instead of ./certs)."""
    folder = tmp_path_factory.mktemp("deploy") / "certs"
    make("certs", CERTS_DIR=folder)
    return folder


@pytest.fixture(scope="session")
def city_influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxV1]:
    """InfluxDB 1.x with database `city` as the service leaves it after a seeded simulated city:
    two devices of each kind over the last days (from midnight UTC, so the same seed gives the
    same points whatever the hour), 5 % of readings out of range for the QC flags."""
    root = tmp_path_factory.mktemp("city")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=CITY_DAYS)
    with Mosquitto(root / "mosquitto") as broker, InfluxV1(root / "influxdb") as influx:
        influx.create_database("city")
        make_registry(root, devices=2, seed=5)
        with CityIngest(root, mqtt_port=broker.port, influx_url=influx.url) as service:
            manifest = simulate(
                root,
                broker.port,
                *("--messages", "1200", "--seed", "5", "--start", start.isoformat()),
                *("--faults", "out_of_range=0.05", "--intervals", "air=1800,noise=1800,waste=3600"),
            )
            wait_for_accounting(service, len(manifest))
        yield influx
