"""The same 20,000 messages through MqttSource (paho, the reference) and NativeMqttSource.

Topics of the three networks, payloads from empty to 20 kB (one-, two- and three-byte
remaining lengths) and MQTT 5 properties on some messages (which the native decoder must
skip): both sources must yield the same (topic, payload) sequence, the one published.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.sources.mqtt import MqttSource
from ingest.sources.native import NativeMqttSource
from simulators.servers import Mosquitto
from tests.sources.helpers import consume, publish, run, settings

COUNT = 20_000


def _messages(prefix: str) -> list[tuple[str, bytes]]:
    rng = random.Random(2026)  # noqa: S311 - reproducible test data, not a secret
    topics = [
        f"{prefix}/v3/city@ttn/devices/air-{{}}/up",
        f"{prefix}/application/7/device/{{}}/event/up",
        f"{prefix}/kpn/things/{{}}",
    ]
    out = []
    for i in range(COUNT):
        size = rng.choice((0, 50, 540, 540, 900, 3000)) if i % 1000 else 20_000
        topic = rng.choice(topics).format(f"{rng.randrange(500):04X}")
        out.append((topic, rng.randbytes(size)))
    return out


def _properties(i: int) -> Properties | None:
    if i % 3:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = [("network", "tts"), ("n", str(i))]
    props.ContentType = "application/json"
    props.MessageExpiryInterval = 3600
    return props


def test_paho_and_native_sources_yield_the_same_messages(
    mosquitto: Mosquitto, unique_name: str
) -> None:
    messages = _messages(unique_name)
    sources: dict[str, Callable[[], MqttSource | NativeMqttSource]] = {
        "paho": lambda: MqttSource(
            settings(mosquitto.port, f"{unique_name}-paho"),
            [f"{unique_name}/#"],
            max_in_flight=5000,
        ),
        "native": lambda: NativeMqttSource(
            settings(mosquitto.port, f"{unique_name}-native"),
            [f"{unique_name}/#"],
            max_in_flight=5000,
        ),
    }

    async def scenario() -> dict[str, list[tuple[str, bytes]]]:
        for make in sources.values():  # the persistent sessions, then the messages for them
            async with make() as source:
                await source.wait_connected(5)
        await publish(mosquitto.port, messages, properties=_properties)
        received = {}
        for name, make in sources.items():
            async with make() as source:
                taken = await consume(source, COUNT, batch=2500)
                received[name] = [(m.topic, m.payload) for m in taken]
        return received

    received = run(scenario(), timeout=120)
    assert received["native"] == received["paho"]
    assert received["native"] == messages
