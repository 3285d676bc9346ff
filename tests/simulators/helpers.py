"""Constants and types the simulator tests share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.servers import Mosquitto, wait_until
from simulators.stream import Publication

CONFIG = Path(__file__).resolve().parents[2] / "config"
START_NS = 1_741_939_200 * 1_000_000_000  # 2025-03-14T08:00:00Z

Build = Callable[..., list[Publication]]  # the `build` fixture: Scenario overrides -> messages


class Subscriber:
    """A QoS 1 subscriber collecting (topic, payload) in arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def count(self) -> int:
        with self._lock:
            return len(self.received)


@contextmanager
def subscribed(broker: Mosquitto, topic: str) -> Iterator[Subscriber]:
    subscriber = Subscriber()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-test-subscriber")
    client.on_message = subscriber.on_message
    client.on_subscribe = lambda *_: subscriber.subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        wait_until(subscriber.subscribed.is_set, 10, message="no SUBACK")
        yield subscriber
    finally:
        client.disconnect()
        client.loop_stop()
