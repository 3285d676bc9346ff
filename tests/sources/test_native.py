"""NativeMqttSource against a real Mosquitto: MQTT 5.0 conformance of what it sends and does.

A `Tap` between source and broker records every packet, so the tests check the wire itself
(PUBACK order, DUP on redelivery, PINGREQ, DISCONNECT) and inject network faults.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from pathlib import Path

import pytest

from ingest.model import Message
from ingest.sources.inbox import SourceState
from ingest.sources.native import NativeMqttSource
from ingest.sources.wire import decode_properties, encode_disconnect
from simulators.servers import Mosquitto
from tests.sources.conftest import PUBLISHER, USER
from tests.sources.helpers import LOOPBACK, consume, eventually, publish, run, settings
from tests.sources.tap import Tap

PINGREQ, DISCONNECT = 12, 14


def _messages(topic: str, count: int) -> list[tuple[str, bytes]]:
    return [(f"{topic}/{i % 7}", f"uplink {i}".encode() * (i % 40)) for i in range(count)]


def test_pubacks_follow_the_order_of_receipt_whatever_the_ack_order(
    mosquitto: Mosquitto, unique_name: str
) -> None:
    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name)
            async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=1000) as src:
                await src.wait_connected(5)
                await publish(mosquitto.port, _messages(unique_name, 300))
                batches = [await src.next_batch(100, 5) for _ in range(3)]
                for i in (1, 2, 0):  # the first batch is durable last
                    src.ack(batches[i])
                relay = tap.relays[0]
                await eventually(lambda: len(relay.puback_ids()) == 300, message="PUBACKs")
                assert relay.puback_ids() == [p.packet_id for p in relay.publishes()]
                assert src.in_flight == 0
                assert [(m.topic, m.payload) for b in batches for m in b] == _messages(
                    unique_name, 300
                )

    run(scenario())


def test_unacknowledged_messages_come_again_with_dup_and_old_acks_are_dropped(
    mosquitto: Mosquitto, unique_name: str
) -> None:
    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name, keepalive=1)  # a PINGREQ ends each pause
            async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=1000) as src:
                await src.wait_connected(5)
                assert src.session_present is False
                await publish(mosquitto.port, _messages(unique_name, 20))
                old = await src.next_batch(20, 5)
                await tap.cut()
                await eventually(lambda: len(tap.relays) == 2 and src.received == 40)
                assert src.session_present is True
                new = await src.next_batch(20, 5)
                second = tap.relays[1]
                pings = len(second.sent(PINGREQ))
                src.ack(old)  # a previous connection's: the same packet ids, must not be sent
                await eventually(lambda: len(second.sent(PINGREQ)) > pings)  # all sent is here
                assert second.puback_ids() == []
                src.ack(new)
                await publish(mosquitto.port, [(f"{unique_name}/marker", b"after")])
                src.ack(await src.next_batch(1, 5))
                await eventually(lambda: len(second.puback_ids()) >= 21, message="PUBACKs")
                redelivered = second.publishes()
                assert [p.dup for p in redelivered] == [True] * 20 + [False]
                assert [(m.topic, m.payload) for m in new] == [(m.topic, m.payload) for m in old]
                assert second.puback_ids() == [p.packet_id for p in redelivered]
                assert tap.relays[0].puback_ids() == []

    run(scenario())


def test_the_session_survives_a_clean_close_and_the_close_sends_disconnect(
    mosquitto: Mosquitto, unique_name: str
) -> None:
    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name)
            topics = [f"{unique_name}/#"]
            async with NativeMqttSource(config, topics, max_in_flight=100) as src:
                await src.wait_connected(5)
            assert src.state is SourceState.CLOSED
            assert tap.relays[0].to_broker[-1][0] >> 4 == DISCONNECT
            await publish(mosquitto.port, _messages(unique_name, 5))  # queued while away
            async with NativeMqttSource(config, topics, max_in_flight=100) as src:
                assert [m.payload for m in await consume(src, 5)] == [
                    p for _, p in _messages(unique_name, 5)
                ]
                assert src.session_present is True

    run(scenario())


def test_keepalive_pings_when_idle_and_a_silent_broker_means_reconnect(
    mosquitto: Mosquitto, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name, keepalive=1)
            async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=100) as src:
                await src.wait_connected(5)
                first = tap.relays[0]
                await eventually(lambda: len(first.sent(PINGREQ)) >= 2, message="no PINGREQ")
                assert len(tap.relays) == 1  # answered pings keep the connection
                first.silent = True
                await eventually(lambda: len(tap.relays) == 2, message="no reconnect")
                await eventually(lambda: src.state is SourceState.SUBSCRIBED)

    with caplog.at_level(logging.WARNING, logger="ingest.sources.native"):
        run(scenario())
    assert "disconnected: no PINGRESP within 0.5 s" in caplog.text


def test_backpressure_holds_at_most_max_in_flight(mosquitto: Mosquitto, unique_name: str) -> None:
    async def scenario() -> None:
        config = settings(mosquitto.port, unique_name)
        async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=50) as src:
            await src.wait_connected(5)
            await publish(mosquitto.port, _messages(unique_name, 500))
            await eventually(lambda: src.received >= 50)
            most = src.in_flight
            taken: list[Message] = []
            while len(taken) < 500:
                batch = await src.next_batch(30, 0.05)
                most = max(most, src.in_flight)  # the batch is held until acked
                src.ack(batch)
                taken += batch
            assert most == 50
            assert [m.payload for m in taken] == [p for _, p in _messages(unique_name, 500)]

    run(scenario())


def test_pause_stops_taking_messages(mosquitto: Mosquitto, unique_name: str) -> None:
    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name)
            async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=1000) as src:
                await src.wait_connected(5)
                await publish(mosquitto.port, _messages(unique_name, 10))
                await consume(src, 10)
                src.pause()
                await publish(mosquitto.port, _messages(unique_name, 10))
                await eventually(lambda: len(tap.relays[0].publishes()) == 20)
                with pytest.raises(AssertionError):  # nothing more is taken
                    await eventually(lambda: src.received > 10, timeout=0.3)
                assert src.in_flight == 0

    run(scenario())


def test_login_and_a_refused_login_retries_with_backoff(
    secure_broker: Mosquitto, unique_name: str
) -> None:
    async def scenario() -> None:
        good = settings(secure_broker.port, unique_name, username=USER[0], password=USER[1])
        async with NativeMqttSource(good, ["auth/#"], max_in_flight=100) as src:
            await src.wait_connected(5)
            await publish(secure_broker.port, [("auth/x", b"hello")], credentials=PUBLISHER)
            assert [(m.topic, m.payload) for m in await consume(src, 1)] == [("auth/x", b"hello")]
        async with Tap(secure_broker.port) as tap:
            bad = settings(
                tap.port, unique_name, username=USER[0], password=USER[1] + "-wrong",
                reconnect_min_delay=0.2, reconnect_max_delay=5,
            )  # fmt: skip
            async with NativeMqttSource(bad, ["auth/#"], max_in_flight=100) as src:
                await eventually(lambda: len(tap.relays) >= 3, message="no retries")
                assert src.state is not SourceState.SUBSCRIBED
                assert src.last_error == "broker refused the connection: Not authorized"
            opened = [relay.opened_at for relay in tap.relays[:3]]
            assert opened[2] - opened[1] > opened[1] - opened[0] >= 0.2  # doubling back-off

    run(scenario())


def test_refused_subscriptions_are_a_clear_error(mosquitto: Mosquitto, unique_name: str) -> None:
    def refuse(packet: bytes) -> bytes:  # Mosquitto 2.0 grants every filter; a firewall won't
        if packet[0] >> 4 != 9:
            return packet
        codes_at = decode_properties(memoryview(packet), 4)[1]
        return packet[:codes_at] + b"\x00" + b"\x87" * (len(packet) - codes_at - 1)

    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            tap.rewrite = refuse
            config = settings(tap.port, unique_name)
            async with NativeMqttSource(config, ["ok/#", "secret/#"], max_in_flight=10) as src:
                await eventually(lambda: len(tap.relays) >= 2, message="no retry")
                assert src.last_error == "broker refused subscriptions: secret/# (Not authorized)"
                assert src.state is not SourceState.SUBSCRIBED

    run(scenario())


def test_tls_with_the_right_ca_and_name(
    secure_broker: Mosquitto, certs: Path, unique_name: str
) -> None:
    (tls_port,) = secure_broker.extra_ports
    config = settings(
        tls_port, unique_name, host="localhost", tls=True, ca_file=certs / "ca.crt",
        username=USER[0], password=USER[1],
    )  # fmt: skip

    async def scenario() -> None:
        async with NativeMqttSource(config, ["tls/#"], max_in_flight=100) as src:
            await src.wait_connected(5)
            await publish(secure_broker.port, [("tls/x", b"secret")], credentials=PUBLISHER)
            assert [m.payload for m in await consume(src, 1)] == [b"secret"]

    run(scenario())


@pytest.mark.parametrize(
    ("host", "ca", "error"),
    [
        ("localhost", "other.crt", "certificate verify failed: self-signed certificate in"),
        (LOOPBACK, "ca.crt", "certificate verify failed: IP address mismatch"),
    ],
)
def test_tls_with_a_wrong_ca_or_name_fails_clearly(
    secure_broker: Mosquitto, certs: Path, unique_name: str, *, host: str, ca: str, error: str
) -> None:
    (tls_port,) = secure_broker.extra_ports
    config = settings(tls_port, unique_name, host=host, tls=True, ca_file=certs / ca)

    async def scenario() -> None:
        async with NativeMqttSource(config, ["tls/#"], max_in_flight=100) as src:
            await eventually(lambda: src.last_error, timeout=5)
            assert src.last_error.startswith(f"cannot connect to {host}:{tls_port}: [SSL: ")
            assert error in src.last_error
            assert src.state is SourceState.DISCONNECTED

    run(scenario())


def test_mqtt_311_receives_and_keeps_its_session(mosquitto: Mosquitto, unique_name: str) -> None:
    async def scenario() -> None:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name)
            topics = [f"{unique_name}/#"]
            async with NativeMqttSource(
                config, topics, max_in_flight=100, protocol_version=4
            ) as src:
                await src.wait_connected(5)
                await publish(mosquitto.port, _messages(unique_name, 30))
                taken = await consume(src, 30)
                await eventually(lambda: len(tap.relays[0].puback_ids()) == 30)
                await tap.cut()
                await eventually(lambda: src.state is SourceState.SUBSCRIBED)
                assert src.session_present is True
            assert [(m.topic, m.payload) for m in taken] == _messages(unique_name, 30)
            relay = tap.relays[0]
            assert relay.puback_ids() == [p.packet_id for p in relay.publishes(version=4)]

    run(scenario())


def test_an_unreachable_broker_is_an_error_not_a_hang(unique_name: str) -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        config = settings(port, unique_name)
        async with NativeMqttSource(config, ["#"], max_in_flight=10) as src:
            with pytest.raises(TimeoutError):
                await src.wait_connected(0.3)
            assert "cannot connect to 127.0.0.1" in src.last_error
            assert src.state is SourceState.DISCONNECTED

    run(scenario())


def test_random_batches_and_acks_keep_every_message_once(
    mosquitto: Mosquitto, unique_name: str
) -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not a secret

    async def scenario() -> None:
        config = settings(mosquitto.port, unique_name)
        async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=64) as src:
            await src.wait_connected(5)
            await publish(mosquitto.port, _messages(unique_name, 400))
            taken: list[Message] = []
            held: list[list[Message]] = []
            while len(taken) < 400:
                batch = await src.next_batch(rng.randint(1, 40), 0.02)
                taken += batch
                held.append(batch)
                while held and (rng.random() < 0.5 or src.in_flight > 32):  # resumes at half
                    src.ack(held.pop(rng.randrange(len(held))))
            assert [(m.topic, m.payload) for m in taken] == _messages(unique_name, 400)

    run(scenario())


def test_a_disconnect_from_the_broker_is_reported_and_flapping_backs_off(
    mosquitto: Mosquitto, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[float]:
        async with Tap(mosquitto.port) as tap:
            config = settings(tap.port, unique_name, reconnect_min_delay=0.2, reconnect_max_delay=5)
            async with NativeMqttSource(config, [f"{unique_name}/#"], max_in_flight=10) as src:
                for n in range(1, 4):
                    await eventually(lambda: len(tap.relays) == n)  # noqa: B023 - awaited here
                    await src.wait_connected(5)
                    tap.relays[-1].inject(encode_disconnect(0x98))  # Administrative action
                await eventually(lambda: len(tap.relays) == 4)
                await src.wait_connected(5)
                assert src.last_error == ""
            return [relay.opened_at for relay in tap.relays]

    with caplog.at_level(logging.WARNING, logger="ingest.sources.native"):
        opened = run(scenario())
    assert "disconnected by the broker: Administrative action; reconnecting in 0.2 s" in caplog.text
    gaps = [later - earlier for earlier, later in itertools.pairwise(opened)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    assert gaps[2] >= 0.8  # short-lived connections double the delay
