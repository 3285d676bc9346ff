"""The JetStream source refuses to start where it would lose messages or ownership."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from simulators.servers.nats import MIN_VERSION, NatsCluster, server_version
from simulators.servers.process import ServerError, ServerProcess, find_binary, port_open
from simulators.servers.service import write_service_config
from tests.cluster.harness import nats_section
from tests.e2e import make_registry

pytestmark = pytest.mark.cluster


def _run_service(workdir: Path, mqtt_port: int, nats_toml: str) -> subprocess.CompletedProcess[str]:
    make_registry(workdir, devices=2, seed=1)
    config = write_service_config(
        workdir, mqtt_port=mqtt_port, influx_url="http://127.0.0.1:1", extra=nats_toml
    )
    return subprocess.run(
        [sys.executable, "-m", "ingest", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_partition_consumer_stops_start_up(cluster: NatsCluster, tmp_path: Path) -> None:
    async def delete() -> None:
        client = await nats.connect(cluster.urls)
        await client.jetstream().delete_consumer("$MQTT_msgs", "city_ingest_p3")
        await client.close()

    asyncio.run(delete())
    done = _run_service(tmp_path, cluster.nodes[0].mqtt_port, nats_section(cluster, 0, 1))
    assert done.returncode == 2, done.stderr
    assert "consumer city_ingest_p3 of stream $MQTT_msgs is missing" in done.stderr
    assert "city-ingest jetstream-setup" in done.stderr


class _OldNats(ServerProcess):
    """A plain nats-server (no JetStream) from the system, e.g. Debian's 2.9.10."""

    name = "nats-server-old"

    def _configure(self) -> None:
        """No config file: address and port on the command line."""

    def _command(self) -> list[str]:
        return [find_binary("nats-server"), "-a", self.host, "-p", str(self.port)]

    def _is_ready(self) -> bool:
        return port_open(self.host, self.port)


def test_a_server_older_than_2_11_stops_start_up(tmp_path: Path) -> None:
    try:
        version = server_version(find_binary("nats-server"))
    except ServerError:
        pytest.skip("no system nats-server (Debian's package is 2.9.10)")
    if version[:2] >= MIN_VERSION:
        pytest.skip(f"the system nats-server is {version}, not older than 2.11")
    with _OldNats(tmp_path / "old") as old:
        section = f'\n[nats]\nservers = ["nats://127.0.0.1:{old.port}"]\npartitions = 8\n'
        done = _run_service(tmp_path, 1883, section)
    assert done.returncode == 2, done.stderr
    assert "older than 2.11" in done.stderr
