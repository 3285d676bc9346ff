"""Scale-out on NATS JetStream: affinity, no loss when a replica or a node dies, hand-over."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import nats
import pytest

from ingest.handover import partition_of
from ingest.sources.jetstream import topic_of
from simulators.servers import InfluxV1, wait_until
from simulators.servers.nats import NatsCluster
from tests.cluster.harness import (
    PARTITIONS,
    AckedPublisher,
    city,
    landed,
    partition_counts,
    replicas,
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
