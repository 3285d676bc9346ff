"""The JetStream source refuses to start where it would lose messages or ownership."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from ingest.errors import ConfigError
from ingest.settings import NatsSettings
from ingest.sources import wire
from ingest.sources.natsclient import connect
from simulators.servers.nats import (
    INGEST,
    MIN_VERSION,
    NETWORK,
    NatsCluster,
    nats_binary,
    server_version,
)
from simulators.servers.process import (
    ServerError,
    ServerProcess,
    find_binary,
    free_port,
    port_open,
)
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
        client = await nats.connect(cluster.urls, user=INGEST.name, password=INGEST.password)
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


class _GuardedNats(ServerProcess):
    """The environment's nats-server (≥ 2.11) with one user, from the command line."""

    name = "nats-server-auth"

    def _configure(self) -> None:
        """No config file: address, port and the user on the command line."""

    def _command(self) -> list[str]:
        return [nats_binary(), "-a", self.host, "-p", str(self.port), *_USER_FLAGS]

    def _is_ready(self) -> bool:
        return port_open(self.host, self.port)


_RIGHT, _WRONG = "the-right-one", "a-wrong-one"  # test passwords, not secrets
_USER_FLAGS = ("--user", "city-ingest", "--pass", _RIGHT)


def _connect(servers: list[str], **credentials: object) -> Exception | None:
    """What ``connect`` raised with these settings (None: it connected)."""

    async def attempt() -> None:
        settings = NatsSettings(servers=servers, partitions=8, connect_timeout=2.0, **credentials)
        client = await connect(settings)
        await client.close()

    try:
        asyncio.run(attempt())
    except ConfigError as exc:
        return exc
    return None


def test_a_node_that_refuses_the_credentials_stops_start_up_naming_them(tmp_path: Path) -> None:
    with _GuardedNats(tmp_path / "auth") as server:
        servers = [f"nats://127.0.0.1:{server.port}"]
        assert _connect(servers, username="city-ingest", password=_RIGHT) is None
        refused = _connect(servers, username="city-ingest", password=_WRONG)
        nobody = _connect(servers)
    assert isinstance(refused, ConfigError)
    assert refused.key == "nats.password"
    assert "Authorization Violation" in refused.problem
    assert _WRONG not in str(refused)
    assert isinstance(nobody, ConfigError)
    assert nobody.key == "nats.password"


def test_no_node_within_the_connect_timeout_stops_start_up_naming_the_servers() -> None:
    """The client library would retry the first connection for ever."""
    servers = [f"nats://127.0.0.1:{free_port()}"]
    unreachable = _connect(servers)
    assert isinstance(unreachable, ConfigError)
    assert unreachable.key == "nats.servers"
    assert "within 2 s" in unreachable.problem


def test_credentials_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="username and password go together"):
        NatsSettings(username="city-ingest")


def _connack(port: int, login: tuple[str, str] | None) -> int:
    """The return code of an MQTT 3.1.1 CONNECT to a node's MQTT listener."""
    username, password = login or (None, None)
    hello = wire.encode_connect(
        "guard",
        keepalive=10,
        clean_start=True,
        username=username,
        password=password,
        version=wire.MQTT_311,
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(hello)
        answer = sock.recv(4)
    return answer[3]


def test_the_shipped_cluster_takes_mqtt_only_from_its_users(cluster: NatsCluster) -> None:
    port = cluster.nodes[0].mqtt_port
    assert _connack(port, None) == 5  # not authorized (MQTT 3.1.1 §3.2.2.3)
    assert _connack(port, (NETWORK.name, "guessed")) == 5
    assert _connack(port, NETWORK.login) == 0


def test_setup_with_a_wrong_password_exits_2_naming_the_key_not_the_password(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    section = nats_section(cluster, 0, 1, connect_timeout=2.0)
    wrong = tmp_path / "wrong-password"
    wrong.write_text(_WRONG, encoding="utf-8")
    section = section.replace(str(cluster.password_file), str(wrong))
    assert str(wrong) in section
    config = write_service_config(
        tmp_path,
        mqtt_port=cluster.nodes[0].mqtt_port,
        influx_url="http://127.0.0.1:1",
        extra=section,
    )
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "jetstream-setup", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "nats.password" in done.stderr
    assert _WRONG not in done.stderr + done.stdout
    assert INGEST.password not in done.stderr + done.stdout
