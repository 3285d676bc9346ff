"""MQTT client receive throughput with acknowledgements, on a pre-loaded persistent session.

Method: a consumer subscribes once (QoS 1, persistent session) and disconnects; N realistic TTS
uplinks are then published and queued by the broker; each consumer in turn reconnects and the
time from its start to its N-th message (acknowledged) is measured, in a fresh process so no
client warms another's caches, with the CPU time (user + system) that process used per message.
The broker is the same in every run, so ratios compare clients.

Consumers:
- ``mosquitto_sub``: the broker's delivery ceiling (C client, acks on receipt);
- ``paho-thread``: paho-mqtt 2.x, its own network thread, ``manual_ack`` + ``ack()`` per message;
- ``paho-asyncio``: city-ingest's source (paho driven from asyncio, acks per batch after "write");
- ``native-asyncio``: city-ingest's own MQTT framing on asyncio (``NativeMqttSource``), same
  batches and acks as ``paho-asyncio``;
- ``aiomqtt``: aiomqtt 2.x (paho underneath, acks on receipt: it has no manual ack).
"""

from __future__ import annotations

import asyncio
import importlib
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from benchmarks.table import print_table
from simulators.servers import Mosquitto

TOPIC = "v3/bench@ttn/devices/bench/up"
_CHILD_MODULES = ("ingest.settings", "ingest.sources.mqtt", "ingest.sources.native", "aiomqtt")
CONSUMERS = ("mosquitto_sub", "paho-thread", "paho-asyncio", "native-asyncio", "aiomqtt")


def _payload() -> bytes:
    sample = Path(__file__).resolve().parents[1] / "tests/envelopes/cases/tts/example/message.json"
    return sample.read_bytes()


def _preload(port: int, client_id: str, count: int) -> None:
    """Create the persistent session, then queue ``count`` messages for it."""
    sub = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv311,
        clean_session=False,
    )
    sub.connect("127.0.0.1", port)
    sub.subscribe(TOPIC, qos=1)
    sub.loop(1.0)
    sub.loop(1.0)
    sub.disconnect()
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    body = _payload()
    infos = [pub.publish(TOPIC, body, qos=1) for _ in range(count)]
    for info in infos:
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _consume(name: str, port: int, client_id: str, count: int) -> tuple[float, float]:
    """Seconds from start to the ``count``-th message, and the consumer's CPU seconds."""
    if name == "mosquitto_sub":
        cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-i",
                client_id,
                "-c",
                "-q",
                "1",
                "-t",
                TOPIC,
                "-C",
                str(count),
            ],
            stdout=subprocess.DEVNULL,
            check=True,
            timeout=300,
        )
        return time.perf_counter() - started, _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.mqtt_clients", name, str(port), client_id, str(count)],
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    elapsed, cpu = child.stdout.split()  # timed inside the child: interpreter start excluded
    return float(elapsed), float(cpu)


def _paho_thread(port: int, client_id: str, count: int) -> None:
    done = threading.Event()
    seen = 0

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        nonlocal seen
        client.ack(msg.mid, msg.qos)
        seen += 1
        if seen == count:
            done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv311,
        clean_session=False,
        manual_ack=True,
    )
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(300)
    client.disconnect()
    client.loop_stop()


async def _paho_asyncio(port: int, client_id: str, count: int) -> None:
    from ingest.settings import MqttSettings  # noqa: PLC0415 - only in the child process
    from ingest.sources.mqtt import MqttSource  # noqa: PLC0415

    settings = MqttSettings(port=port, client_id=client_id, receive_maximum=1000)
    seen = 0
    async with MqttSource(settings, [TOPIC], max_in_flight=20_000) as source:
        while seen < count:
            batch = await source.next_batch(2500, 0.05)
            seen += len(batch)
            source.ack(batch)


async def _native_asyncio(port: int, client_id: str, count: int) -> None:
    from ingest.settings import MqttSettings  # noqa: PLC0415 - only in the child process
    from ingest.sources.native import NativeMqttSource  # noqa: PLC0415

    settings = MqttSettings(port=port, client_id=client_id, receive_maximum=1000)
    seen = 0
    async with NativeMqttSource(settings, [TOPIC], max_in_flight=20_000) as source:
        while seen < count:
            batch = await source.next_batch(2500, 0.05)
            seen += len(batch)
            source.ack(batch)


async def _aiomqtt(port: int, client_id: str, count: int) -> None:
    import aiomqtt  # noqa: PLC0415 - only in the child process

    seen = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False) as c:
        await c.subscribe(TOPIC, qos=1)
        async for _ in c.messages:
            seen += 1
            if seen == count:
                return


def run(count: int = 50_000, repetitions: int = 3) -> None:
    results: dict[str, list[float]] = {name: [] for name in CONSUMERS}
    cpu: dict[str, list[float]] = {name: [] for name in CONSUMERS}
    with Mosquitto() as broker:
        for repetition in range(repetitions):
            for name in CONSUMERS:  # interleaved: every client sees the same broker state
                client_id = f"bench-{name}-{repetition}"
                _preload(broker.port, client_id, count)
                elapsed, used = _consume(name, broker.port, client_id, count)
                results[name].append(count / elapsed)
                cpu[name].append(used / count * 1e6)
    ceiling = statistics.median(results["mosquitto_sub"])
    rows = [
        (
            name,
            f"{statistics.median(rates):,.0f}",
            f"{statistics.median(rates) / ceiling:.2f}",
            f"{statistics.median(cpu[name]):.1f}",
            " ".join(f"{r:,.0f}" for r in rates),
        )
        for name, rates in results.items()
    ]
    print_table(
        f"MQTT QoS 1 receive with acks, {count:,} queued TTS uplinks, "
        f"{repetitions} interleaved runs",
        ("consumer", "msg/s (median)", "× ceiling", "CPU µs/msg", "runs (msg/s)"),
        rows,
    )


def _child(argv: list[str]) -> None:
    name, port, client_id, count = argv[0], int(argv[1]), argv[2], int(argv[3])
    runners: dict[str, Callable[[int, str, int], object]] = {
        "paho-thread": _paho_thread,
        "paho-asyncio": lambda p, c, n: asyncio.run(_paho_asyncio(p, c, n)),
        "native-asyncio": lambda p, c, n: asyncio.run(_native_asyncio(p, c, n)),
        "aiomqtt": lambda p, c, n: asyncio.run(_aiomqtt(p, c, n)),
    }
    for module in _CHILD_MODULES:  # imported before the clock starts, like interpreter start
        importlib.import_module(module)
    cpu = _cpu_seconds(resource.RUSAGE_SELF)
    started = time.perf_counter()
    runners[name](port, client_id, count)
    print(time.perf_counter() - started, _cpu_seconds(resource.RUSAGE_SELF) - cpu)


if __name__ == "__main__":
    _child(sys.argv[1:])
