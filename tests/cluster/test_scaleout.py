"""Scale-out on NATS JetStream: affinity, no loss when a replica or a node dies, hand-over.

Every test publishes QoS 1 through the cluster's MQTT listener (paho, MQTT 3.1.1, persistent
session) and counts what was PUBACKed; a PUBACKed uplink is written when its `link` point is
in InfluxDB.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.handover import partition_of
from simulators.servers import InfluxV1, wait_until
from simulators.servers.faultproxy import FaultMode, FaultProxy
from simulators.servers.nats import NatsCluster
from simulators.stream import Publication
from tests.cluster.harness import (
    PARTITIONS,
    AckedPublisher,
    Row,
    aggregates,
    city,
    landed,
    partition_counts,
    replicas,
    stream_leader,
    ticks,
)

pytestmark = pytest.mark.cluster

DEVICES, SEED = 40, 7  # devices per kind: 2400 uplinks span about 3 simulated hours
_TOKEN_LEVEL = {"application": 3, "v3": 3, "kpn": 2}  # the level the mapping partitions on


def _partition(publication: Publication) -> int:
    levels = publication.topic.split("/")
    return partition_of(levels[_TOKEN_LEVEL[levels[0]]], PARTITIONS)


def _all_landed(
    influx: InfluxV1, tmp_path: Path, publications: list[Publication], acked: set[int]
) -> set[int]:
    return wait_until(
        lambda: (w := landed(influx, tmp_path, publications)) >= acked and w,
        90,
        message="PUBACKed uplinks missing from InfluxDB",
    )


def _row(
    replicas_: int, scenario: str, publisher: AckedPublisher, written: set[int], redelivered: float
) -> Row:
    return Row(
        replicas=replicas_,
        scenario=scenario,
        published=len(publisher.acked),
        written=len(written & publisher.acked),
        redelivered=int(redelivered),
        lost=len(publisher.acked - written),
        stall_s=publisher.longest_stall(),
    )


@pytest.mark.parametrize("count", [2, 3])
def test_every_device_is_handled_by_one_replica(
    cluster: NatsCluster,
    influx: InfluxV1,
    tmp_path: Path,
    record: Callable[[Row], None],
    count: int,
) -> None:
    publications = city(tmp_path, devices=DEVICES, messages=1200, seed=5)
    with replicas(tmp_path, cluster, influx, count) as services:
        publisher = AckedPublisher("127.0.0.1", cluster.nodes[1].mqtt_port, "affinity")
        with publisher.connected():
            publisher.publish(publications, rate=800)
        written = _all_landed(influx, tmp_path, publications, publisher.acked)
        counts = [partition_counts(s) for s in services]
    handlers = {p: [i for i, c in enumerate(counts) if c.get(p)] for p in range(PARTITIONS)}
    assert all(len(h) == 1 for h in handlers.values()), handlers  # one replica per partition
    assert all(h == [p % count] for p, h in handlers.items()), handlers  # each its own share
    expected = Counter(_partition(p) for p in publications)  # FNV-1a(device) mod P
    assert {p: int(sum(c.get(p, 0) for c in counts)) for p in expected} == dict(expected)
    record(_row(count, "steady", publisher, written, 0))


def _reference_run(
    tmp_path: Path, cluster: NatsCluster, influx: InfluxV1, publications: list[Publication]
) -> Row:
    """The same uplinks through a single replica, into the database `reference`."""
    with replicas(tmp_path, cluster, influx, 1, database="reference"):
        publisher = AckedPublisher("127.0.0.1", cluster.nodes[0].mqtt_port, "reference")
        with publisher.connected():
            publisher.publish(publications, rate=1500)
        written = wait_until(
            lambda: (
                (w := landed(influx, tmp_path, publications, "reference")) >= publisher.acked and w
            ),
            60,
        )
        _close_windows(tmp_path, cluster, influx, "reference")
    # the replica stopped cleanly: the aggregates of its last batches are written
    return _row(1, "reference for the kill", publisher, written, 0)


def _close_windows(tmp_path: Path, cluster: NatsCluster, influx: InfluxV1, db: str) -> None:
    """Publish the ticks and wait until they are in: every window of the city closes."""
    closing = ticks(tmp_path, devices=DEVICES, seed=SEED)
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[2].mqtt_port, f"ticks-{db}")
    with publisher.connected():
        publisher.publish(closing, rate=1500)
    wait_until(lambda: landed(influx, tmp_path, closing, db) >= publisher.acked, 60)


def test_killing_the_owning_replica_loses_nothing(
    cluster: NatsCluster, influx: InfluxV1, tmp_path: Path, record: Callable[[Row], None]
) -> None:
    """kill -9 a replica mid-stream, while a write of it hangs (and then lands, unacknowledged):
    the other replica takes its partitions over, rebuilds their open windows from InfluxDB,
    and the aggregates equal a single replica's."""
    publications = city(tmp_path, devices=DEVICES, messages=2400, seed=SEED)
    record(_reference_run(tmp_path, cluster, influx, publications))
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[1].mqtt_port, "replica-kill")
    with (
        FaultProxy(influx.url) as proxy,
        replicas(tmp_path, cluster, influx, 2, influx_urls={0: proxy.url}) as services,
    ):
        with publisher.connected():
            sender = threading.Thread(target=publisher.publish, args=(publications, 400))
            sender.start()
            wait_until(lambda: len(landed(influx, tmp_path, publications)) > 400, 30)
            proxy.mode = FaultMode.HANG
            wait_until(lambda: proxy.counts().get(FaultMode.HANG), 10)
            services[0].kill()  # with a batch taken and not acknowledged
            proxy.mode = FaultMode.FORWARD  # the hung write lands: written, never acknowledged
            sender.join()
        written = _all_landed(influx, tmp_path, publications, publisher.acked)
        survivor = services[1].metrics()
        _close_windows(tmp_path, cluster, influx, "city")
    assert len(publisher.acked) == len(publications)
    assert written == publisher.acked  # every PUBACKed uplink is in InfluxDB
    assert survivor["city_ingest_source_redelivered"] > 0  # the dead replica's messages
    assert aggregates(influx, "city") == aggregates(influx, "reference")
    redelivered = survivor["city_ingest_source_redelivered"]
    record(_row(2, "kill -9 replica", publisher, written, redelivered))


def test_killing_the_stream_leader_node_loses_nothing(
    cluster: NatsCluster, influx: InfluxV1, tmp_path: Path, record: Callable[[Row], None]
) -> None:
    """kill -9 the node leading `$MQTT_msgs` mid-stream: publishing pauses for the election
    (the stall, measured between PUBACKs), nothing PUBACKed is lost."""
    publications = city(tmp_path, devices=DEVICES, messages=3000, seed=SEED)
    leader = cluster.node_named(stream_leader(cluster))
    entry = next(node for node in cluster.nodes if node is not leader)
    publisher = AckedPublisher("127.0.0.1", entry.mqtt_port, "node-kill")
    with replicas(tmp_path, cluster, influx, 2) as services:
        with publisher.connected():
            sender = threading.Thread(target=publisher.publish, args=(publications, 600))
            sender.start()
            wait_until(lambda: len(landed(influx, tmp_path, publications)) > 600, 30)
            leader.kill()
            sender.join()
        written = _all_landed(influx, tmp_path, publications, publisher.acked)
        leader.restart()
        redelivered = sum(s.metrics()["city_ingest_source_redelivered"] for s in services)
    assert len(publisher.acked) == len(publications)
    assert written == publisher.acked
    assert publisher.longest_stall() < 15  # Raft elections take 4–9 s (nats-server raft.go)
    record(_row(2, "kill -9 stream leader", publisher, written, redelivered))


def test_a_clean_restart_of_a_replica_hands_its_partitions_over(
    cluster: NatsCluster, influx: InfluxV1, tmp_path: Path, record: Callable[[Row], None]
) -> None:
    """SIGTERM a replica mid-stream: it finishes and acknowledges what it took and releases
    its pins; the other replica takes those partitions, rebuilds their windows and carries on.
    Started again, the first replica does not load its saved windows (stale by now)."""
    publications = city(tmp_path, devices=DEVICES, messages=2400, seed=SEED)
    _reference_run(tmp_path, cluster, influx, publications)
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[1].mqtt_port, "rolling")
    with replicas(tmp_path, cluster, influx, 2) as services:
        with publisher.connected():
            sender = threading.Thread(target=publisher.publish, args=(publications, 400))
            sender.start()
            wait_until(lambda: len(landed(influx, tmp_path, publications)) > 400, 30)
            services[0].stop()
            wait_until(lambda: any(p % 2 == 0 for p in partition_counts(services[1])), 30)
            services[0].start()  # the other replica has its partitions now: it stays idle
            sender.join()
        written = _all_landed(influx, tmp_path, publications, publisher.acked)
        redelivered = services[1].metrics()["city_ingest_source_redelivered"]
        _close_windows(tmp_path, cluster, influx, "city")
    assert written == publisher.acked
    assert aggregates(influx, "city") == aggregates(influx, "reference")
    record(_row(2, "SIGTERM + restart a replica", publisher, written, redelivered))


def test_a_slow_write_keeps_its_messages(
    cluster: NatsCluster, influx: InfluxV1, tmp_path: Path, record: Callable[[Row], None]
) -> None:
    """A write that hangs longer than `ack_wait` (4 s here): the replica marks its messages in
    progress, so the server does not deliver them again meanwhile."""
    publications = city(tmp_path, devices=DEVICES, messages=600, seed=SEED)
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[1].mqtt_port, "slow-write")
    with (
        FaultProxy(influx.url) as proxy,
        replicas(tmp_path, cluster, influx, 1, influx_urls={0: proxy.url}) as [service],
    ):
        with publisher.connected():
            publisher.publish(publications[:1], rate=600)  # the partitions' hand-over reads
            wait_until(lambda: landed(influx, tmp_path, publications), 30)
            proxy.mode = FaultMode.HANG
            publisher.publish(publications[1:], rate=600)
        # held through a whole write timeout (influxdb.timeout, 10 s) > 2 × ack_wait (4 s)
        wait_until(lambda: "InfluxDB write failed" in service.log_text(), 30)
        proxy.mode = FaultMode.FORWARD
        written = _all_landed(influx, tmp_path, publications, publisher.acked)
        redelivered = service.metrics()["city_ingest_source_redelivered"]
    assert written == publisher.acked
    assert redelivered == 0  # held past ack_wait, never redelivered: in_progress worked
    record(_row(1, "write hangs > ack_wait", publisher, written, redelivered))
