"""Scale-out on NATS JetStream: affinity, no loss when a replica or a node dies, hand-over."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from pathlib import Path

import nats
import pytest

from ingest.handover import partition_of
from ingest.sources.jetstream import topic_of
from simulators.servers import InfluxV1, wait_until
from simulators.servers.nats import NatsCluster
from simulators.stream import Publication
from tests.cluster.harness import (
    PARTITIONS,
    AckedPublisher,
    aggregates,
    city,
    landed,
    partition_counts,
    replicas,
    ticks,
)

pytestmark = pytest.mark.cluster


def test_every_device_is_handled_by_one_replica(
    cluster: NatsCluster, influx: InfluxV1, tmp_path: Path
) -> None:
    publications = city(tmp_path, devices=8, messages=1200, seed=5)
    seen: dict[str, set[int]] = defaultdict(set)  # topic → partitions it was stored under

    async def watch(stop: asyncio.Event) -> None:
        client = await nats.connect(cluster.urls)

        async def record(msg: nats.aio.msg.Msg) -> None:
            seen[topic_of(msg.subject)].add(int(msg.subject.split(".")[3]))

        await client.subscribe("$MQTT.msgs.part.>", cb=record)
        await stop.wait()
        await client.drain()

    with replicas(tmp_path, cluster, influx, 2) as services:
        publisher = AckedPublisher("127.0.0.1", cluster.nodes[1].mqtt_port, "affinity")
        with publisher.connected():
            publisher.publish(publications, rate=800)
        wait_until(lambda: landed(influx, tmp_path, publications) >= publisher.acked, 60)
        counts = [partition_counts(s) for s in services]
    handlers = {p: [i for i, c in enumerate(counts) if c.get(p)] for p in range(PARTITIONS)}
    assert all(len(h) == 1 for h in handlers.values()), handlers
    assert {h[0] for h in handlers.values()} == {0, 1}, "one replica took every partition"
    assert len(publisher.acked) == len(publications)


DEVICES, SEED = 8, 7


def _reference_run(
    tmp_path: Path, cluster: NatsCluster, influx: InfluxV1, publications: list[Publication]
) -> None:
    """The same uplinks through a single replica, into the database `reference`."""
    with replicas(tmp_path, cluster, influx, 1, database="reference"):
        publisher = AckedPublisher("127.0.0.1", cluster.nodes[0].mqtt_port, "reference")
        with publisher.connected():
            publisher.publish(publications, rate=1500)
        wait_until(
            lambda: landed(influx, tmp_path, publications, "reference") >= publisher.acked, 60
        )
        _close_windows(tmp_path, cluster, influx, "reference")
    # the replica stopped cleanly: the aggregates of its last batches are written


def _close_windows(tmp_path: Path, cluster: NatsCluster, influx: InfluxV1, db: str) -> None:
    """Publish the ticks and wait until they are in: every window of the city closes."""
    closing = ticks(tmp_path, devices=DEVICES, seed=SEED)
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[2].mqtt_port, f"ticks-{db}")
    with publisher.connected():
        publisher.publish(closing, rate=1500)
    wait_until(lambda: landed(influx, tmp_path, closing, db) >= publisher.acked, 60)


def test_killing_the_owning_replica_loses_nothing(
    cluster: NatsCluster, influx: InfluxV1, tmp_path: Path
) -> None:
    publications = city(tmp_path, devices=DEVICES, messages=2400, seed=SEED)
    _reference_run(tmp_path, cluster, influx, publications)
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[1].mqtt_port, "replica-kill")
    with replicas(tmp_path, cluster, influx, 2) as services:
        with publisher.connected():
            sender = threading.Thread(target=publisher.publish, args=(publications, 600))
            sender.start()
            wait_until(lambda: len(landed(influx, tmp_path, publications)) > 600, 30)
            services[0].kill()
            sender.join()
        written = wait_until(
            lambda: (w := landed(influx, tmp_path, publications)) >= publisher.acked and w, 90
        )
        survivor = services[1].metrics()
        _close_windows(tmp_path, cluster, influx, "city")
    assert len(publisher.acked) == len(publications)
    assert written == publisher.acked  # every PUBACKed uplink is in InfluxDB
    assert survivor["city_ingest_source_redelivered"] > 0  # the dead replica's messages
    assert aggregates(influx, "city") == aggregates(influx, "reference")
