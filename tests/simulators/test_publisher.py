"""Publishing to a real Mosquitto: every message arrives, PUBACKs are awaited, rate is kept."""

from __future__ import annotations

import pytest

from ingest.errors import SinkUnavailable
from simulators.publisher import BrokerOptions, Publisher, publish_all
from simulators.servers import Mosquitto, free_port, wait_until
from tests.simulators.helpers import subscribed


def test_every_message_arrives_once_in_order(mosquitto: Mosquitto) -> None:
    messages = [(f"sim/{i % 7}/up", f"message {i}".encode()) for i in range(3000)]
    with subscribed(mosquitto, "sim/#") as subscriber:
        with Publisher(BrokerOptions(mosquitto.host, mosquitto.port)) as publisher:
            report = publish_all(messages, publisher, rate=0)
        assert report.published == report.acknowledged == 3000
        wait_until(lambda: subscriber.count() >= 3000, 30, message="messages missing")
        assert subscriber.received == messages


def test_rate_limits_the_pace(mosquitto: Mosquitto) -> None:
    messages = [("sim/rate", b"x")] * 21
    with Publisher(BrokerOptions(mosquitto.host, mosquitto.port)) as publisher:
        report = publish_all(messages, publisher, rate=100)
    assert report.acknowledged == 21
    assert report.seconds >= 20 / 100


def test_unreachable_broker_is_sink_unavailable() -> None:
    port = free_port()
    with (
        pytest.raises(SinkUnavailable, match=f"cannot connect to MQTT broker 127.0.0.1:{port}"),
        Publisher(BrokerOptions("127.0.0.1", port, connect_timeout_s=2)),
    ):
        pass
