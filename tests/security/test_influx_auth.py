"""InfluxDB 1.x with authentication: city-ingest writes as a write-only user whose password comes
from a `*_FILE` variable; a wrong password is reported (HTTP 401) and dead-letters nothing; no
password reaches the log, /metrics, /readyz, /api/status, the status page or `check-config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from ingest.settings import InfluxSettings, RetentionManagement, RetentionSettings
from simulators.servers import InfluxV1, Mosquitto, request, wait_until
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, outcome_counts, simulate, wait_for_accounting
from tests.security.conftest import INFLUX_ADMIN, INFLUX_WRITER, check_config, secret_file
from tests.sinks.test_retention import refusal

pytestmark = pytest.mark.slow
# the anonymous test broker ignores it; it must not leak either
MQTT_PASSWORD = "mqtt-pw-unused-4e7a"  # noqa: S105 - a test value
PAGES = ("/metrics", "/readyz", "/api/status", "/")


def _env(tmp_path: Path, influx_password: str) -> dict[str, str]:
    return {
        "CITY_INGEST_INFLUXDB__API": "v1",
        "CITY_INGEST_INFLUXDB__USERNAME": INFLUX_WRITER[0],
        "CITY_INGEST_INFLUXDB__PASSWORD_FILE": secret_file(tmp_path, "influx", influx_password),
        "CITY_INGEST_MQTT__USERNAME": "city-ingest",
        "CITY_INGEST_MQTT__PASSWORD_FILE": secret_file(tmp_path, "mqtt", MQTT_PASSWORD),
        "CITY_INGEST_LOGGING__LEVEL": "debug",
        # least privilege: the admin made the retention policies (conftest), the writer only writes
        "CITY_INGEST_INFLUXDB__RETENTION": '{manage = "off"}',
    }


def _everything_shown(service: CityIngest) -> str:
    pages = [request("GET", f"{service.url}{path}").body.decode() for path in PAGES]
    return "\n".join([*pages, service.log_text()])


def test_it_writes_with_a_password_from_a_file_and_never_shows_it(
    mosquitto: Mosquitto, secure_influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=2, seed=93)
    env = _env(tmp_path, INFLUX_WRITER[1])
    with CityIngest(
        tmp_path, mqtt_port=mosquitto.port, influx_url=secure_influxdb.url, env=env
    ) as service:
        manifest = simulate(tmp_path, mosquitto.port, "--messages", "60", "--seed", "93")
        counts = wait_for_accounting(service, len(manifest), timeout=20)
        shown = _everything_shown(service)
    checked = check_config(service.config_path, env)
    assert counts["written"] > 0
    assert counts["dead_letter"] < len(manifest)
    assert secure_influxdb.query("SHOW MEASUREMENTS"), "nothing reached InfluxDB"
    assert checked.returncode == 0, checked.stderr
    assert "broker and InfluxDB answered" in checked.stdout
    for secret in (INFLUX_WRITER[1], MQTT_PASSWORD, INFLUX_ADMIN[1]):
        assert secret not in shown
        assert secret not in checked.stdout + checked.stderr


def test_a_wrong_password_is_reported_and_dead_letters_nothing(
    mosquitto: Mosquitto, secure_influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=2, seed=94)
    wrong = "influx-wrong-c93f01"
    env = _env(tmp_path, wrong)
    with CityIngest(
        tmp_path, mqtt_port=mosquitto.port, influx_url=secure_influxdb.url, env=env
    ) as service:
        simulate(
            tmp_path, mosquitto.port,
            *("--messages", "30", "--seed", "94", "--malformed", "0", "--duplicates", "0"),
        )  # fmt: skip
        readyz = wait_until(
            lambda: (
                (answer := request("GET", f"{service.url}/readyz"))
                and "HTTP 401" in str(answer.json())
                and answer
            ),
            15,
            message="/readyz did not report the 401",
        )
        counts = outcome_counts(service)
        shown = _everything_shown(service)
    checked = check_config(service.config_path, env)
    assert readyz.status == 503  # only an operator can fix credentials: not ready
    assert "HTTP 401" in readyz.json()["problems"][0]
    assert "influxdb.username/password" in shown  # the log and /readyz name the fix
    assert counts["dead_letter"] == 0
    assert not list((tmp_path / "dead-letter").glob("*")) or all(
        f.stat().st_size == 0 for f in (tmp_path / "dead-letter").iterdir()
    )
    assert wrong not in shown
    assert wrong not in checked.stdout + checked.stderr


def test_managing_retention_needs_an_admin_and_says_so(secure_influxdb: InfluxV1) -> None:
    writer = InfluxSettings(
        url=secure_influxdb.url,
        username=INFLUX_WRITER[0],
        password=SecretStr(INFLUX_WRITER[1]),
        retention=RetentionSettings(manage=RetentionManagement.APPLY),
    )
    refused = refusal(writer)
    assert refused.key == "influxdb.retention.manage"
    assert "HTTP 403" in str(refused)
    assert 'manage = "off"' in refused.fix
    assert INFLUX_WRITER[1] not in str(refused)
