"""The scale-out test bench: a 3-node NATS cluster, replicas of city-ingest, a QoS 1 publisher.

The publisher records which uplinks the MQTT listener PUBACKed; `landed` reads back which of
them InfluxDB holds (one `link` point per uplink: device and time); `aggregates` reads every
aggregate measurement so that two runs of the same input can be compared.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.decoders import load_config
from ingest.model import Device
from simulators.fleet import load_or_create_fleet
from simulators.servers import InfluxV1, wait_until
from simulators.servers.nats import INGEST, NETWORK, NatsCluster
from simulators.servers.process import CONFIG_DIR
from simulators.servers.service import CityIngest
from simulators.stream import Publication, Scenario, generate
from tests.e2e import public_names, source

PARTITIONS = 8
RAW = {"air", "noise", "waste", "link"}
HOUR_NS = 3600 * 10**9
LATENESS_S = 20 * 3600
"""A test publishes hours of simulated uplinks in seconds, and a replica reads its partitions
side by side: the windows must not close before every partition's uplinks are in, so they
wait this long, and a last publication (`ticks`) a day later closes them all."""
LATE_WINDOWS = "".join(
    f"\n[processors.{kind}]\nlateness_s = {LATENESS_S}\n"
    for kind in ("air", "noise", "waste", "health")
)
FAST = {  # failover in seconds, not the production tens of seconds
    "takeover_after": 3.0,
    "priority_timeout": 2.0,
    "ack_wait": 4.0,
}


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario's figures: uplinks PUBACKed by the MQTT listener, found in InfluxDB,
    delivered again to a replica (an upper bound of the uplinks written twice), PUBACKed and
    not found, and the longest pause between two PUBACKs."""

    replicas: int
    scenario: str
    published: int
    written: int
    redelivered: int
    lost: int
    stall_s: float


def nats_section(cluster: NatsCluster, replica: int, replicas: int, **overrides: object) -> str:
    """The `[nats]` TOML of one replica, with failover in seconds."""
    return cluster.service_section(replica, replicas, **{**FAST, **overrides})


def city(
    workdir: Path, *, devices: int, messages: int, seed: int, hours_ago: int = 40
) -> list[Publication]:
    """A registry in `workdir/devices.csv`, a pseudonym key beside it, and clean uplinks (no
    malformed, no duplicates) in time order, starting `hours_ago`."""
    key = workdir / "pseudonym.key"
    if not key.exists():
        key.write_text(secrets.token_hex(32), encoding="utf-8")
    decoders = load_config(CONFIG_DIR / "decoders.toml")
    fleet: Sequence[Device] = load_or_create_fleet(workdir / "devices.csv", devices, seed, decoders)
    start = (time.time_ns() // HOUR_NS - hours_ago) * HOUR_NS
    scenario = Scenario.clean("mixed", messages, seed, start)
    return list(generate(scenario, fleet, decoders))


def ticks(workdir: Path, *, devices: int, seed: int) -> list[Publication]:
    """Uplinks of (nearly) every device an hour ago: past the lateness of `city`'s windows."""
    return city(workdir, devices=devices, messages=devices * 3, seed=seed + 1, hours_ago=1)


@dataclass
class AckedPublisher:
    """A paho MQTT 3.1.1 client with a persistent session that remembers what was PUBACKed."""

    host: str
    port: int
    client_id: str
    login: tuple[str, str] | None = NETWORK.login  # the cluster's network-server user
    acked: set[int] = field(default_factory=set)
    ack_times: list[float] = field(default_factory=list)
    _mids: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def connected(self) -> Iterator[AckedPublisher]:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv311,
            clean_session=False,
        )
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(0.2, 2.0)
        if self.login is not None:
            client.username_pw_set(*self.login)
        client.on_publish = self._on_publish
        client.connect(self.host, self.port, keepalive=10)
        client.loop_start()
        self._client = client
        try:
            yield self
        finally:
            client.disconnect()
            client.loop_stop()

    def publish(self, publications: Sequence[Publication], rate: float) -> float:
        """Publish at about `rate` messages/s; seconds taken until the last PUBACK."""
        started = time.monotonic()
        target = len(self.acked) + len(publications)
        for i, publication in enumerate(publications):
            info = self._client.publish(publication.topic, publication.payload, qos=1)
            with self._lock:
                self._mids[info.mid] = publication.entry.seq
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # pacing the publisher, not synchronising the test
        wait_until(lambda: len(self.acked) >= target, 60.0, 0.05, "uplinks not PUBACKed")
        return time.monotonic() - started

    def _on_publish(self, client: paho.Client, data: object, mid: int, *_: Any) -> None:
        with self._lock:
            self.acked.add(self._mids[mid])
            self.ack_times.append(time.monotonic())

    def longest_stall(self) -> float:
        """The longest gap between two PUBACKs, in seconds (a leader election's pause)."""
        times = sorted(self.ack_times)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def landed(
    influx: InfluxV1, workdir: Path, publications: Sequence[Publication], database: str = "city"
) -> set[int]:
    """Sequence numbers of the publications whose uplink is in InfluxDB (its `link` point)."""
    names = public_names(workdir)
    rows = influx.query('SELECT * FROM "link" GROUP BY *', database=database)
    present = {(row["device"], row["time"]) for row in rows}
    return {
        p.entry.seq for p in publications if (names[p.entry.dev_eui], p.entry.time_ns) in present
    }


def aggregates(influx: InfluxV1, database: str) -> dict[str, list[dict[str, Any]]]:
    """Every aggregate measurement's rows, sorted, floats to 9 significant digits (the order
    of a sum differs between runs); the raw measurements left out."""
    names = [row["name"] for row in influx.query("SHOW MEASUREMENTS", database=database)]
    result: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(set(names) - RAW):
        rows = influx.query(f"SELECT * FROM {source(name)} GROUP BY *", database=database)
        assert rows, f"no {name} rows: compared nothing"
        rounded = [{k: _rounded(v) for k, v in row.items()} for row in rows]
        result[name] = sorted(rounded, key=lambda r: sorted((k, str(v)) for k, v in r.items()))
    return result


def _rounded(value: object) -> object:
    return float(f"{value:.9g}") if isinstance(value, float) else value


def partition_counts(service: CityIngest) -> dict[int, float]:
    """Messages this replica took per partition."""
    prefix = 'city_ingest_partition_messages_total{partition="'
    return {
        int(name[len(prefix) :].split('"')[0]): value
        for name, value in service.metrics().items()
        if name.startswith(prefix)
    }


@contextmanager
def replicas(
    city_dir: Path,
    cluster: NatsCluster,
    influx: InfluxV1,
    count: int,
    *,
    database: str = "city",
    influx_urls: dict[int, str] | None = None,
    **overrides: object,
) -> Iterator[list[CityIngest]]:
    """`count` replicas of city-ingest, each in its own folder with the city's registry and
    pseudonym key, started together; stopped (SIGTERM) at the end unless killed before.
    `influx_urls` puts replicas (by index) behind another URL (a fault proxy); `overrides`
    change `[nats]` settings."""
    env = {"CITY_INGEST_INFLUXDB__DATABASE": database}
    services = []
    for i in range(count):
        root = city_dir / f"replica-{database}-{i}"
        root.mkdir()
        for name in ("devices.csv", "pseudonym.key"):
            shutil.copy(city_dir / name, root / name)
        section = nats_section(cluster, i, count, **overrides)
        services.append(
            CityIngest(
                root,
                mqtt_port=cluster.nodes[0].mqtt_port,
                influx_url=(influx_urls or {}).get(i, influx.url),
                env=env,
                extra=section + LATE_WINDOWS,
            )
        )
    with ExitStack() as stack:
        for service in services:
            stack.callback(service.stop)
        with ThreadPoolExecutor(count) as pool:  # together: each takes its own partitions
            list(pool.map(CityIngest.start, services))
        yield services


def stream_leader(cluster: NatsCluster, stream: str = "$MQTT_msgs") -> str:
    """The server name of the stream's Raft leader."""

    async def ask() -> str:
        client = await nats.connect(cluster.urls, user=INGEST.name, password=INGEST.password)
        try:
            info = await client.jetstream().stream_info(stream)
        finally:
            await client.close()
        assert info.cluster is not None
        assert info.cluster.leader is not None
        return info.cluster.leader

    return asyncio.run(ask())
