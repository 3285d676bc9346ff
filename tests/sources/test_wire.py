"""MQTT packet encoding and the incremental decoder: spec examples, round trips, properties.

The framing property: a stream of packets cut into chunks at random places decodes to the
same packets, whatever the cuts. The reference is the list of packets the stream was built from.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.errors import MqttProtocolError
from ingest.sources.wire import (
    MAX_LENGTH,
    Connack,
    Decoder,
    Disconnect,
    Packet,
    Pingresp,
    Property,
    Publish,
    Suback,
    decode_length,
    decode_properties,
    encode_connect,
    encode_disconnect,
    encode_length,
    encode_properties,
    encode_pubacks,
    encode_publish,
    encode_subscribe,
    reason_name,
)

# Variable Byte Integer examples: MQTT 5.0 §1.5.5, the table of sizes.
SPEC_LENGTHS = {
    0: "00", 127: "7f", 128: "8001", 16_383: "ff7f", 16_384: "808001",
    2_097_151: "ffff7f", 2_097_152: "80808001", 268_435_455: "ffffff7f",
}  # fmt: skip

topics = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40)
payloads = st.binary(max_size=20_000)
strings = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
properties = st.lists(
    st.one_of(
        st.tuples(st.just(0x01), st.integers(0, 1)),  # Payload Format Indicator
        st.tuples(st.just(0x02), st.integers(0, 2**32 - 1)),  # Message Expiry Interval
        st.tuples(st.just(0x03), strings),  # Content Type
        st.tuples(st.just(0x09), st.binary(max_size=30)),  # Correlation Data
        st.tuples(st.just(0x0B), st.integers(1, MAX_LENGTH)),  # Subscription Identifier
        st.tuples(st.just(0x26), st.tuples(strings, strings)),  # User Property
    ),
    max_size=5,
)


def _decode_all(data: bytes, version: int = 5) -> list[Packet]:
    decoder = Decoder(version)
    decoder.feed(data)
    packets = decoder.decode()
    assert decoder.buffered == 0
    return packets


@pytest.mark.parametrize(("value", "encoded"), SPEC_LENGTHS.items())
def test_lengths_match_the_spec_table(value: int, encoded: str) -> None:
    assert encode_length(value).hex() == encoded
    assert decode_length(bytes.fromhex(encoded), 0) == (value, len(encoded) // 2)


@given(st.integers(0, MAX_LENGTH), st.binary(max_size=3))
def test_length_round_trip(value: int, tail: bytes) -> None:
    encoded = encode_length(value)
    assert decode_length(encoded + tail, 0) == (value, len(encoded))
    assert decode_length(encoded[:-1], 0) is None  # cut short: wait for more


def test_lengths_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="Variable Byte Integer"):
        encode_length(MAX_LENGTH + 1)
    with pytest.raises(MqttProtocolError, match=r"mqtt\.malformed_length"):
        decode_length(b"\xff\xff\xff\xff\x01", 0)


@given(properties)
def test_properties_round_trip(props: list[Property]) -> None:
    encoded = encode_properties(props)
    assert decode_properties(memoryview(encoded + b"tail"), 0) == (props, len(encoded))


@given(
    topic=topics, payload=payloads, qos=st.integers(0, 1), packet_id=st.integers(1, 65535),
    dup=st.booleans(), retain=st.booleans(), props=properties, version=st.sampled_from([4, 5]),
)  # fmt: skip
def test_publish_round_trip(
    *,
    topic: str,
    payload: bytes,
    qos: int,
    packet_id: int,
    dup: bool,
    retain: bool,
    props: list[Property],
    version: int,
) -> None:
    packet_id = packet_id if qos else 0
    encoded = encode_publish(
        topic, payload, qos=qos, packet_id=packet_id, dup=dup, retain=retain,
        properties=props, version=version,
    )  # fmt: skip
    assert _decode_all(encoded, version) == [Publish(topic, payload, packet_id, qos, dup, retain)]


def _connack(session_present: bool, reason: int) -> bytes:
    return bytes((0x20, 3, session_present, reason, 0))  # §3.2: flags, reason, no properties


def _suback(packet_id: int, codes: list[int]) -> bytes:
    return bytes((0x90, 3 + len(codes))) + packet_id.to_bytes(2, "big") + b"\x00" + bytes(codes)


packets = st.one_of(
    st.builds(
        lambda t, p, q, i, d, props: (
            encode_publish(t, p, qos=q, packet_id=i * q, dup=d, properties=props),
            Publish(t, p, i * q, q, d, False),
        ),
        topics, st.binary(max_size=300), st.integers(0, 1), st.integers(1, 65535),
        st.booleans(), properties,
    ),
    st.builds(lambda s, r: (_connack(s, r), Connack(s, r, [])), st.booleans(), st.integers(0, 255)),
    st.builds(
        lambda i, c: (_suback(i, c), Suback(i, tuple(c))),
        st.integers(1, 65535), st.lists(st.sampled_from([0, 1, 0x87]), min_size=1, max_size=5),
    ),
    st.just((b"\xd0\x00", Pingresp())),
    st.builds(lambda r: (encode_disconnect(r), Disconnect(r)), st.sampled_from([0, 0x8E])),
)  # fmt: skip


@given(st.lists(packets, max_size=30), st.lists(st.integers(0, 2000), max_size=20))
def test_any_split_of_a_stream_decodes_to_the_same_packets(
    stream: list[tuple[bytes, Packet]], cuts: list[int]
) -> None:
    data = b"".join(encoded for encoded, _ in stream)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    decoder, decoded = Decoder(), []
    for start, end in itertools.pairwise(bounds):
        decoder.feed(data[start:end])
        decoded += decoder.decode()
    assert decoded == [packet for _, packet in stream]
    assert decoder.buffered == 0


def test_decode_stops_at_max_publishes_and_resumes() -> None:
    data = b"".join(encode_publish("t", bytes([i]), qos=1, packet_id=i + 1) for i in range(5))
    decoder = Decoder()
    decoder.feed(data + b"\xd0\x00")
    assert [p.payload for p in decoder.decode(2) if isinstance(p, Publish)] == [b"\x00", b"\x01"]
    assert decoder.decode(0) == []
    assert len(decoder.decode()) == 4  # three PUBLISH and the PINGRESP
    assert decoder.buffered == 0


def test_topic_aliases_set_by_the_broker_are_applied() -> None:
    alias = [(0x23, 3)]  # Topic Alias (§3.3.2.3.4)
    stream = encode_publish("a/b", b"1", properties=alias) + encode_publish(
        "", b"2", properties=alias
    )
    assert [(p.topic, p.payload) for p in _decode_all(stream) if isinstance(p, Publish)] == [
        ("a/b", b"1"),
        ("a/b", b"2"),
    ]
    with pytest.raises(MqttProtocolError, match=r"mqtt\.topic_alias_unknown"):
        _decode_all(encode_publish("", b"x", properties=[(0x23, 9)]))


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"\x40\x02\x00\x01", "mqtt.unexpected_packet"),  # a PUBACK sent to a subscriber
        (b"\x34\x05\x00\x01t\x00\x01", "mqtt.qos_unsupported"),  # QoS 2
        (b"\x30\x04\x00\x05ab", "mqtt.malformed_packet"),  # topic longer than the packet
        (b"\x30\x04\x00\x02\xff\xfe", "mqtt.malformed_packet"),  # topic not UTF-8
        (b"\x20\x04\x00\x00\x05\x99", "mqtt.malformed_packet"),  # properties past the end
    ],
)
def test_malformed_packets_are_protocol_errors(data: bytes, detail: str) -> None:
    with pytest.raises(MqttProtocolError, match=detail.replace(".", r"\.")):
        _decode_all(data)


def test_connect_bytes() -> None:
    # MQTT 5.0 §3.1: protocol name, level 5, flags (user, password; clean start off),
    # keep alive 60, properties, then client id, user name and password.
    encoded = encode_connect(
        "ci",
        keepalive=60,
        clean_start=False,
        username="u",
        password="pw",  # noqa: S106 - example bytes, not a credential
        properties=[(0x11, 3600), (0x21, 1000), (0x22, 0)],
    )
    expected = (
        "10" "21" "00044d515454" "05" "c0" "003c"
        "0b" "1100000e10" "2103e8" "220000"
        "00026369" "000175" "00027077"
    )  # fmt: skip
    assert encoded.hex() == expected
    plain = encode_connect("ci", keepalive=60, clean_start=True, version=4)
    assert plain.hex() == "100e00044d5154540402003c00026369"


def test_subscribe_puback_disconnect_bytes() -> None:
    assert encode_subscribe(1, ["a/#", "b"], 1).hex() == "820d0001000003612f230100016201"
    assert encode_subscribe(7, ["a"], 1, version=4).hex() == "8206000700016101"
    assert encode_pubacks([1, 0x1234]) == b"\x40\x02\x00\x01\x40\x02\x12\x34"
    assert encode_disconnect() == b"\xe0\x00"
    assert encode_disconnect(0x81) == b"\xe0\x01\x81"


def test_reason_names() -> None:
    assert reason_name(0x87) == "Not authorized"
    assert reason_name(4, version=4) == "Bad user name or password"
    assert reason_name(0xEE) == "reason code 0xEE"
