"""The ingest config docker-compose.yml mounts passes `check-config` as the container sees it,
and agrees with the services it names (broker, InfluxDB, ACL, volumes, healthcheck)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.settings import Settings, load_settings
from tests.deploy.conftest import REPO

CONTAINER_CONFIG = "/etc/city-ingest/city-ingest.toml"
ACL = REPO / "config" / "mosquitto" / "acl"


def _container_files(compose: dict[str, Any], root: Path) -> Path:
    """Copy the city-ingest service's bind mounts to where the container sees them, under
    `root`; the config file's path there."""
    for volume in compose["services"]["city-ingest"]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            where = root / target.lstrip("/")
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_bytes((REPO / source).read_bytes())
    return root / CONTAINER_CONFIG.lstrip("/")


def _secret_environment(compose: dict[str, Any], secrets_dir: Path) -> dict[str, str]:
    """The service's environment, its *_FILE variables pointed at the files `make secrets`
    wrote instead of /run/secrets."""
    env: dict[str, str] = compose["services"]["city-ingest"]["environment"]
    return {
        key: str(secrets_dir / Path(value).name) if key.endswith("_FILE") else value
        for key, value in env.items()
    }


@pytest.fixture
def compose_settings(compose: dict[str, Any], secrets_dir: Path, tmp_path: Path) -> Settings:
    config = _container_files(compose, tmp_path)
    return load_settings(config, _secret_environment(compose, secrets_dir))


def test_compose_config_passes_check_config(
    compose: dict[str, Any], secrets_dir: Path, tmp_path: Path
) -> None:
    config = _container_files(compose, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITY_INGEST_")}
    env |= _secret_environment(compose, secrets_dir)
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"config {config}: OK" in result.stdout
    assert "influxdb: http://influxdb:8086 (api v2)" in result.stdout
    for name in ("influxdb_admin_token", "mqtt_ingest_password", "pseudonym_key"):
        assert (secrets_dir / name).read_text().strip() not in result.stdout + result.stderr


def test_every_secret_the_service_needs_comes_from_a_file(compose_settings: Settings) -> None:
    assert compose_settings.mqtt.password is not None
    assert compose_settings.influxdb.token is not None
    assert compose_settings.privacy.pseudonym_key is not None


def test_it_names_the_compose_broker_and_database(
    compose: dict[str, Any], compose_settings: Settings
) -> None:
    mqtt, influx = compose_settings.mqtt, compose_settings.influxdb
    assert mqtt.host in compose["services"]
    assert f"listener {mqtt.port}" in (REPO / "config/mosquitto/production.conf").read_text()
    assert influx.url == "http://influxdb:8086"
    init = compose["services"]["influxdb"]["environment"]
    assert (influx.org, influx.bucket) == (
        init["DOCKER_INFLUXDB_INIT_ORG"],
        init["DOCKER_INFLUXDB_INIT_BUCKET"],
    )


def test_it_subscribes_exactly_to_what_the_acl_lets_it_read(compose_settings: Settings) -> None:
    acl = ACL.read_text(encoding="utf-8")
    block = acl.split("user city-ingest\n", 1)[1].split("\n\n", 1)[0]
    readable = set(re.findall(r"^topic read (\S+)$", block, re.MULTILINE))
    assert {source.topic for source in compose_settings.sources} == readable
    assert compose_settings.mqtt.username == "city-ingest"


def test_its_data_folders_are_the_named_volumes(
    compose: dict[str, Any], compose_settings: Settings
) -> None:
    volumes = {
        target: source
        for source, target, *_ in (
            v.split(":") for v in compose["services"]["city-ingest"]["volumes"]
        )
        if not source.startswith(".")
    }
    folders = {
        compose_settings.spool.dir,
        compose_settings.dead_letter.dir,
        compose_settings.processors.state_dir,
    }
    assert {Path(target) for target in volumes} == folders


def test_its_http_port_is_the_one_published_and_probed(
    compose: dict[str, Any], compose_settings: Settings
) -> None:
    port = compose_settings.http.listen.rpartition(":")[2]
    assert compose_settings.http.listen.startswith("0.0.0.0:")  # all interfaces of the container
    assert compose["services"]["city-ingest"]["ports"] == [f"127.0.0.1:{port}:{port}"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert f"http://127.0.0.1:{port}/readyz" in dockerfile
    assert f"\nEXPOSE {port}\n" in dockerfile
