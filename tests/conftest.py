"""Fixtures with real servers: Mosquitto, InfluxDB 1.x, VictoriaMetrics, the InfluxDB 2 stub.

Every server runs in a temp dir on a free loopback port (tests/support/), with the config
files that docker-compose uses, and is stopped when its fixture ends, even after a failure.

Which fixture to use:

- `mosquitto`, `influxdb` (database `city` created), `victoria`: a fresh server per test.
  Use them when the test stops, kills or restarts the server, or depends on broker state
  (persistent sessions, retained messages) or on an empty database. Starting costs about
  0.1 s.
- `mosquitto_session`, `influxdb_session`: one server for the whole run, for tests that
  only publish, write and read back. Such a test must not stop, kill or restart the server
  and must keep to its own names (`unique_name`: client ids, topics, measurements), because
  other tests share the server.
- `influx_v2_stub`: tests/influx_v2_stub.py, for what only InfluxDB 2 does (token, org,
  bucket, v2 error bodies) and for injected faults (500, 503, hang).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.servers import InfluxV1, Mosquitto, VictoriaMetrics
from tests.influx_v2_stub import InfluxV2Stub

DATABASE = "city"


def _influxdb(root: Path) -> Iterator[InfluxV1]:
    with InfluxV1(root) as server:
        server.create_database(DATABASE)
        yield server


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker running the shipped mosquitto.conf."""
    with Mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One broker shared by the whole run: never stop it; use `unique_name`."""
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxV1]:
    """A fresh influxd with an empty database `city`."""
    yield from _influxdb(tmp_path / "influxdb")


@pytest.fixture(scope="session")
def influxdb_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxV1]:
    """One influxd (database `city`) shared by the whole run: never stop it; use `unique_name`."""
    yield from _influxdb(tmp_path_factory.mktemp("influxdb"))


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A fresh VictoriaMetrics (see tests/support/victoria.py for what it does not check)."""
    with VictoriaMetrics(tmp_path / "victoria") as server:
        yield server


@pytest.fixture
def influx_v2_stub() -> Iterator[InfluxV2Stub]:
    """The InfluxDB 2 API stub with org `city`, bucket `city` and token `stub-token`."""
    with InfluxV2Stub() as stub:
        yield stub


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name unique to this test, usable as client id, topic level or measurement."""
    return re.sub(r"\W+", "_", request.node.nodeid).strip("_")[-64:]
