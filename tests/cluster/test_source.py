"""The JetStream source in this process against the real cluster: poison messages.

A message that every reader took and none acknowledged (each crashed on it) comes back until
the consumer's `max_deliver`; its last delivery goes to the dead-letter callback, not to the
pipeline, and is terminated.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import nats
import pytest

from ingest.model import Message
from ingest.settings import NatsSettings
from ingest.sources.jetstream import JetStreamSource, consumer_specs
from ingest.sources.pinned import consumer_info, create_consumer
from simulators.servers.nats import INGEST, NatsCluster
from tests.cluster.harness import FAST, PARTITIONS, AckedPublisher, city

pytestmark = pytest.mark.cluster


async def _nothing_to_rebuild(partition: int) -> None:
    """This test has no aggregates to hand over."""


def test_a_message_delivered_max_deliver_times_is_dead_lettered(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    login = {"username": INGEST.name, "password": INGEST.password}
    settings = NatsSettings(servers=cluster.urls, partitions=PARTITIONS, **login, **FAST)
    [publication] = city(tmp_path, devices=1, messages=1, seed=3)
    publisher = AckedPublisher("127.0.0.1", cluster.nodes[0].mqtt_port, "poison")
    poisoned: list[tuple[Message, int]] = []

    async def scenario() -> dict[str, object]:
        client = await nats.connect(cluster.urls, user=INGEST.name, password=INGEST.password)
        for spec in consumer_specs(settings):  # two deliveries, then it is poison
            assert "error" not in await create_consumer(client, replace(spec, max_deliver=2))
        arrived = asyncio.Event()

        def poison(message: Message, deliveries: int) -> None:
            poisoned.append((message, deliveries))
            arrived.set()

        first = JetStreamSource(settings, on_gain=_nothing_to_rebuild, on_poison=poison)
        async with first:  # a reader that takes the message and goes away without an ack
            with publisher.connected():
                publisher.publish([publication], rate=100)
            [taken] = await first.next_batch(10, 0.5)
        second = JetStreamSource(settings, on_gain=_nothing_to_rebuild, on_poison=poison)
        async with second:  # gets it again after ack_wait: the second delivery is the last
            await asyncio.wait_for(arrived.wait(), 30)
            assert second.in_flight == 0  # dead-lettered, not handed to the pipeline
        spec = consumer_specs(settings)[taken.partition]
        info = await consumer_info(client, spec.stream, spec.name)
        await client.close()
        assert info is not None
        return info

    info = asyncio.run(scenario())
    [(message, deliveries)] = poisoned
    assert deliveries == 2
    assert message.topic == publication.topic
    assert message.payload == publication.payload
    assert info["num_ack_pending"] == 0  # terminated: not delivered again
