"""Shared pieces of the source tests: settings, a paho reference publisher, waiting, consuming."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties

from ingest.model import Message
from ingest.settings import MqttSettings

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


class Source(Protocol):
    """What the tests use of MqttSource and NativeMqttSource alike."""

    async def next_batch(self, max_messages: int, max_wait: float) -> list[Message]: ...

    def ack(self, messages: Sequence[Message]) -> None: ...


def settings(port: int, client_id: str, *, keepalive: int = 60, **fields: Any) -> MqttSettings:
    """Validated test settings with fast reconnects; ``keepalive`` may go below the minimum."""
    defaults = {"host": LOOPBACK, "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.2}
    validated = MqttSettings(port=port, client_id=client_id, **{**defaults, **fields})
    return validated.model_copy(update={"keepalive": keepalive})  # 1 s makes a fast test


def run(scenario: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run an async test scenario with an overall deadline."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


async def eventually(
    predicate: Callable[[], T], timeout: float = 10.0, message: str = "condition not met"
) -> T:
    """Poll ``predicate`` on the running loop until it is truthy; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        await asyncio.sleep(0.01)
    return value


def publish_all(
    port: int,
    messages: Sequence[tuple[str, bytes]],
    *,
    credentials: tuple[str, str] | None = None,
    properties: Callable[[int], Properties | None] = lambda i: None,
) -> None:
    """Publish with paho (MQTT 5, QoS 1) and wait until the broker acknowledged every message."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if credentials is not None:
        client.username_pw_set(*credentials)
    client.connect(LOOPBACK, port)
    client.loop_start()
    try:
        infos = [
            client.publish(topic, payload, qos=1, properties=properties(i))
            for i, (topic, payload) in enumerate(messages)
        ]
        for info in infos:
            info.wait_for_publish(60)
        assert all(info.is_published() for info in infos)
    finally:
        client.disconnect()
        client.loop_stop()


def publish(port: int, messages: Sequence[tuple[str, bytes]], **options: Any) -> Awaitable[None]:
    """``publish_all`` in a thread, so the test's event loop keeps running."""
    return asyncio.to_thread(publish_all, port, messages, **options)


async def consume(source: Source, count: int, batch: int = 500) -> list[Message]:
    """Take and acknowledge messages until ``count`` arrived."""
    taken: list[Message] = []
    while len(taken) < count:
        messages = await source.next_batch(min(batch, count - len(taken)), 0.05)
        source.ack(messages)
        taken += messages
    return taken
