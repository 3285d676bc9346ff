"""city-ingest against the compose broker (production.conf): MQTT over TLS with CA verification,
its own user and a password from a file; a wrong CA or host name fails clearly, not by hanging.

What the ACL allows each user (anonymous refused, city-ingest may not publish, network servers
may not read) is tested on the same shipped files in tests/deploy/test_mosquitto.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulators.servers import InfluxV1, Mosquitto, request, wait_until
from simulators.servers.process import LOOPBACK
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, simulate, wait_for_accounting

pytestmark = pytest.mark.slow


def _tls_env(broker: Mosquitto, secrets_dir: Path, *, host: str, ca_file: Path) -> dict[str, str]:
    return {
        "CITY_INGEST_MQTT__HOST": host,
        "CITY_INGEST_MQTT__TLS": "true",
        "CITY_INGEST_MQTT__CA_FILE": str(ca_file),
        "CITY_INGEST_MQTT__USERNAME": "city-ingest",
        "CITY_INGEST_MQTT__PASSWORD_FILE": str(secrets_dir / "mqtt_ingest_password"),
        "CITY_INGEST_MQTT__RECONNECT_MAX_DELAY": "1",
    }


def test_city_ingest_ingests_over_tls_with_its_own_user(
    secure_broker: Mosquitto,
    influxdb: InfluxV1,
    secrets_dir: Path,
    certs_dir: Path,
    tmp_path: Path,
) -> None:
    (tls_port,) = secure_broker.extra_ports
    make_registry(tmp_path, devices=2, seed=91)
    env = _tls_env(secure_broker, secrets_dir, host="localhost", ca_file=certs_dir / "ca.crt")
    with CityIngest(tmp_path, mqtt_port=tls_port, influx_url=influxdb.url, env=env) as service:
        manifest = simulate(
            tmp_path, secure_broker.port,
            *("--username", "simulator"),
            *("--password-file", str(secrets_dir / "mqtt_simulator_password")),
            *("--messages", "60", "--seed", "91", "--malformed", "0", "--duplicates", "0"),
        )  # fmt: skip
        counts = wait_for_accounting(service, len(manifest), timeout=20)
    assert counts["written"] == len(manifest) == 60
    assert f"localhost:{tls_port}" in service.log_text()
    assert influxdb.query("SHOW MEASUREMENTS"), "nothing reached InfluxDB"


@pytest.mark.parametrize(
    ("case", "host", "error"),
    [
        ("another CA", "localhost", "certificate verify failed: self-signed certificate in"),
        ("wrong host name", LOOPBACK, "certificate verify failed: IP address mismatch"),
    ],
)
def test_a_wrong_ca_or_host_name_is_a_clear_error_not_a_hang(
    secure_broker: Mosquitto,
    influxdb: InfluxV1,
    *,
    secrets_dir: Path,
    certs_dir: Path,
    other_ca: Path,
    tmp_path: Path,
    case: str,
    host: str,
    error: str,
) -> None:
    (tls_port,) = secure_broker.extra_ports
    make_registry(tmp_path, devices=1, seed=92)
    ca_file = other_ca if case == "another CA" else certs_dir / "ca.crt"
    env = _tls_env(secure_broker, secrets_dir, host=host, ca_file=ca_file)
    with CityIngest(
        tmp_path, mqtt_port=tls_port, influx_url=influxdb.url, env=env, wait_ready=False
    ) as service:

        def refused() -> dict[str, Any] | None:
            response = request("GET", f"{service.url}/readyz")
            body: dict[str, Any] = response.json()
            return body if response.status == 503 and error in str(body) else None

        ready = wait_until(refused, 10, message=f"/readyz did not report {error!r}")
        log = service.log_text()
    assert ready["ready"] is False
    assert error in log
    assert f"{host}:{tls_port}" in log
