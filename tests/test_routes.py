"""Topic routing agrees with paho's reference matcher and keeps the configured order."""

from __future__ import annotations

import itertools

from paho.mqtt.client import topic_matches_sub

from ingest.model import Network
from ingest.routes import Router


def _joined(levels: list[str], most: int) -> list[str]:
    return [
        "/".join(combo) for n in range(1, most + 1) for combo in itertools.product(levels, repeat=n)
    ]


def test_every_small_filter_matches_as_paho_does() -> None:
    filters = [f for f in _joined(["a", "$SYS", "", "+", "#"], 3) if "#" not in f[:-1]]
    topics = _joined(["a", "b", "$SYS", ""], 3)
    for topic_filter in filters:
        router = Router([(topic_filter, Network.TTS)])
        routed = [topic for topic in topics if router.route(topic) is not None]
        assert routed == [t for t in topics if topic_matches_sub(topic_filter, t)], topic_filter


def test_the_first_matching_filter_wins() -> None:
    router = Router(
        [
            ("v3/+/devices/+/up", Network.TTS),
            ("v3/#", Network.KPN),
            ("application/+/device/+/event/up", Network.CHIRPSTACK),
            ("kpn.things/+", Network.KPN),
        ]
    )
    assert router.route("v3/app@ttn/devices/node-1/up") is Network.TTS
    assert router.route("v3/app@ttn/devices/node-1/join") is Network.KPN
    assert router.route("application/7/device/0004a30b/event/up") is Network.CHIRPSTACK
    assert router.route("application/7/device/0004a30b/event/join") is None
    assert router.route("kpn.things/a") is Network.KPN
    assert router.route("kpnXthings/a") is None  # a filter's text is literal, not a pattern


def test_no_routes_match_nothing() -> None:
    assert Router([]).route("v3/a/devices/b/up") is None
