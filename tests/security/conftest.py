"""Fixtures of the security tests: the compose broker (config/mosquitto/production.conf with the
password file, ACL and TLS listener), an InfluxDB 1.x with authentication, and the secrets and
certificates `make secrets` and `make certs` write.

The broker's certificate is made for `DNS:localhost` only, so that `127.0.0.1` is a wrong host
name for it; `other_ca` is an unrelated CA from a second `make certs`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.mosquitto import production_broker
from tests.deploy.conftest import REPO, make

INFLUX_ADMIN = ("admin", "influx-admin-5f0c1e")
INFLUX_WRITER = ("city-ingest", "influx-writer-8b2d47")


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make secrets` writes."""
    folder = tmp_path_factory.mktemp("security") / "secrets"
    make("secrets", SECRETS_DIR=folder)
    return folder


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make certs CERT_HOSTS=DNS:localhost` writes: a CA and a broker certificate."""
    folder = tmp_path_factory.mktemp("security") / "certs"
    make("certs", CERTS_DIR=folder, CERT_HOSTS="DNS:localhost")  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA certificate of a second, unrelated `make certs`."""
    folder = tmp_path_factory.mktemp("security") / "other-certs"
    make("certs", CERTS_DIR=folder)
    return folder / "ca.crt"


@pytest.fixture(scope="session")
def secure_broker(
    tmp_path_factory: pytest.TempPathFactory, secrets_dir: Path, certs_dir: Path
) -> Iterator[Mosquitto]:
    """production.conf in a real broker: plain `port`, TLS `extra_ports[0]`; never stop it."""
    root = tmp_path_factory.mktemp("security-broker")
    with production_broker(root, secrets_dir=secrets_dir, certs_dir=certs_dir) as broker:
        yield broker


@pytest.fixture(scope="session")
def secure_influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxV1]:
    """influxd with `auth-enabled = true`, database `city`, and a user who may only write it."""
    with InfluxV1(tmp_path_factory.mktemp("security-influxdb"), admin=INFLUX_ADMIN) as server:
        server.create_database("city")
        server.create_retention_policy("city", "aggregates", "INF")  # what an admin does once
        server.create_writer(*INFLUX_WRITER)
        yield server


def secret_file(folder: Path, name: str, secret: str) -> str:
    """Write `secret` to `folder/name` (mode 0600); its path, for a `*_FILE` variable."""
    path = folder / name
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


def check_config(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`city-ingest check-config --probe` with `env` (added to this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", "check-config", "--probe", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("CITY_INGEST_")} | env,
        cwd=REPO,
        timeout=60,
    )
