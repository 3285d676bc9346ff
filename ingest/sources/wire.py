"""MQTT 5.0 / 3.1.1 packets for a QoS 0/1 subscriber: pure encoders and an incremental decoder.

Section numbers name the OASIS MQTT Version 5.0 standard (§) unless marked 3.1.1. The decoder
keeps one ``bytearray`` of what the broker sent, splits every complete packet out of it per
call (slices of a ``memoryview``, no per-byte loop) and leaves an unfinished one for the next
read. It decodes what a subscriber receives: CONNACK, PUBLISH (QoS 0 and 1), SUBACK, PINGRESP
and DISCONNECT; anything else is a protocol error.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ingest.errors import MqttProtocolError

__all__ = [
    "PINGREQ",
    "Connack",
    "Decoder",
    "Disconnect",
    "Packet",
    "Pingresp",
    "Property",
    "Publish",
    "Suback",
    "decode_length",
    "decode_properties",
    "encode_connect",
    "encode_disconnect",
    "encode_length",
    "encode_properties",
    "encode_pubacks",
    "encode_publish",
    "encode_subscribe",
    "reason_name",
]

MQTT_5 = 5  # §3.1.2.2
MQTT_311 = 4  # 3.1.1 §3.1.2.2
MAX_LENGTH = 268_435_455  # the largest Variable Byte Integer, §1.5.5
PINGREQ = b"\xc0\x00"  # §3.12

# Property identifiers used by name (§2.2.2.2).
SESSION_EXPIRY_INTERVAL = 0x11
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
SERVER_KEEP_ALIVE = 0x13

PropertyValue = int | str | bytes | tuple[str, str]
Property = tuple[int, PropertyValue]

# Each property's data type (§2.2.2.2): 1/2/4 fixed bytes, V varint, S string, B binary, P pair.
_PROPERTY_TYPES = {
    0x01: "1", 0x02: "4", 0x03: "S", 0x08: "S", 0x09: "B", 0x0B: "V", 0x11: "4", 0x12: "S",
    0x13: "2", 0x15: "S", 0x16: "B", 0x17: "1", 0x18: "4", 0x19: "1", 0x1A: "S", 0x1C: "S",
    0x1F: "S", 0x21: "2", 0x22: "2", 0x23: "2", 0x24: "1", 0x25: "1", 0x26: "P", 0x27: "4",
    0x28: "1", 0x29: "1", 0x2A: "1",
}  # fmt: skip
_FIXED = {"1": 1, "2": 2, "4": 4}

# Reason codes (§2.4) as the standard names them; 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3).
_REASONS = {
    0x00: "Success", 0x01: "Granted QoS 1", 0x02: "Granted QoS 2",
    0x04: "Disconnect with Will Message",
    0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
    0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password", 0x87: "Not authorized",
    0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down",
    0x8C: "Bad authentication method", 0x8D: "Keep Alive timeout", 0x8E: "Session taken over",
    0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid", 0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid", 0x95: "Packet too large", 0x96: "Message rate too high",
    0x97: "Quota exceeded", 0x98: "Administrative action", 0x99: "Payload format invalid",
    0x9A: "Retain not supported", 0x9B: "QoS not supported", 0x9C: "Use another server",
    0x9D: "Server moved", 0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded", 0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported", 0xA2: "Wildcard Subscriptions not supported",
}  # fmt: skip
_CONNACK_311 = {
    1: "Unacceptable protocol version", 2: "Identifier rejected", 3: "Server unavailable",
    4: "Bad user name or password", 5: "Not authorized",
}  # fmt: skip
_U16 = struct.Struct(">H")
_PUBACK = struct.Struct(">HH")
_PUBACK_HEAD = 0x4002  # PUBACK, remaining length 2: reason Success, no properties (§3.4.2.1)


class Publish(NamedTuple):
    topic: str
    payload: bytes
    packet_id: int  # 0 for QoS 0
    qos: int
    dup: bool
    retain: bool


class Connack(NamedTuple):
    session_present: bool
    reason_code: int
    properties: list[Property]


class Suback(NamedTuple):
    packet_id: int
    reason_codes: tuple[int, ...]


class Pingresp(NamedTuple):
    pass


class Disconnect(NamedTuple):
    reason_code: int


Packet = Publish | Connack | Suback | Pingresp | Disconnect


def reason_name(code: int, version: int = MQTT_5) -> str:
    """The standard's name of a reason (v5) or CONNACK return code (3.1.1)."""
    names = _REASONS if version == MQTT_5 else _CONNACK_311
    return names.get(code, f"reason code 0x{code:02X}")


# -- encoding ------------------------------------------------------------------------------------
def encode_length(value: int) -> bytes:
    """A Variable Byte Integer (§1.5.5): 7 bits a byte, low first, high bit = more."""
    if not 0 <= value <= MAX_LENGTH:
        msg = f"{value} does not fit a Variable Byte Integer (0..{MAX_LENGTH})"
        raise ValueError(msg)
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _binary(data: bytes) -> bytes:
    return _U16.pack(len(data)) + data  # Binary Data / UTF-8 Encoded String, §1.5.4, §1.5.6


def _string(text: str) -> bytes:
    return _binary(text.encode())


def encode_properties(properties: Iterable[Property]) -> bytes:
    """A property list with its length prefix (§2.2.2)."""
    body = bytearray()
    for ident, value in properties:
        kind = _PROPERTY_TYPES[ident]
        body += encode_length(ident)
        if isinstance(value, tuple):
            body += _string(value[0]) + _string(value[1])
        elif isinstance(value, str):
            body += _string(value)
        elif isinstance(value, bytes):
            body += _binary(value)
        else:
            body += encode_length(value) if kind == "V" else value.to_bytes(_FIXED[kind], "big")
    return encode_length(len(body)) + bytes(body)


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_length(len(body)) + body


def encode_connect(
    client_id: str,
    *,
    keepalive: int,
    clean_start: bool,
    username: str | None = None,
    password: str | None = None,
    properties: Sequence[Property] = (),
    version: int = MQTT_5,
) -> bytes:
    """CONNECT (§3.1), without a will."""
    flags = (username is not None) << 7 | (password is not None) << 6 | clean_start << 1
    body = _string("MQTT") + bytes((version, flags)) + _U16.pack(keepalive)
    if version == MQTT_5:
        body += encode_properties(properties)
    body += _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return _packet(0x10, body)


def encode_subscribe(
    packet_id: int, topic_filters: Sequence[str], qos: int, version: int = MQTT_5
) -> bytes:
    """SUBSCRIBE (§3.8): every filter at ``qos``, other subscription options 0."""
    body = _U16.pack(packet_id) + (b"\x00" if version == MQTT_5 else b"")
    for topic in topic_filters:
        body += _string(topic) + bytes((qos,))
    return _packet(0x82, body)


def encode_publish(
    topic: str,
    payload: bytes,
    *,
    qos: int = 0,
    packet_id: int = 0,
    dup: bool = False,
    retain: bool = False,
    properties: Sequence[Property] = (),
    version: int = MQTT_5,
) -> bytes:
    """PUBLISH (§3.3)."""
    body = _string(topic) + (_U16.pack(packet_id) if qos else b"")
    if version == MQTT_5:
        body += encode_properties(properties)
    return _packet(0x30 | dup << 3 | qos << 1 | retain, body + payload)


def encode_pubacks(packet_ids: Sequence[int]) -> bytes:
    """PUBACKs (§3.4) for ``packet_ids``, in that order, as one buffer (valid in 3.1.1 too)."""
    pack = _PUBACK.pack
    return b"".join([pack(_PUBACK_HEAD, mid) for mid in packet_ids])


def encode_disconnect(reason_code: int = 0, version: int = MQTT_5) -> bytes:
    """DISCONNECT (§3.14); a v5 reason other than Normal disconnection travels in it."""
    if reason_code and version == MQTT_5:
        return bytes((0xE0, 1, reason_code))
    return b"\xe0\x00"


# -- decoding ------------------------------------------------------------------------------------
def decode_length(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """A Variable Byte Integer at ``pos``: (value, position after it), None if cut short."""
    value = 0
    for shift in (0, 7, 14, 21):
        if pos >= len(data):
            return None
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    raise MqttProtocolError("mqtt.malformed_length", "a length longer than four bytes (§1.5.5)")


def _read_length(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    found = decode_length(data, pos)
    if found is None:
        raise MqttProtocolError("mqtt.malformed_packet", "a length runs past its packet")
    return found


def _read_binary(data: memoryview, pos: int) -> tuple[bytes, int]:
    end = pos + 2 + _U16.unpack_from(data, pos)[0]
    if end > len(data):
        raise MqttProtocolError("mqtt.malformed_packet", "a string runs past its packet")
    return bytes(data[pos + 2 : end]), end


def _read_string(data: memoryview, pos: int) -> tuple[str, int]:
    raw, pos = _read_binary(data, pos)
    return raw.decode(), pos


def _read_property(data: memoryview, pos: int) -> tuple[Property, int]:
    ident, pos = _read_length(data, pos)
    kind = _PROPERTY_TYPES.get(ident)
    value: PropertyValue
    if kind is None:
        raise MqttProtocolError("mqtt.malformed_packet", f"unknown property 0x{ident:02X}")
    if kind in _FIXED:
        end = pos + _FIXED[kind]
        value, pos = int.from_bytes(data[pos:end], "big"), end
    elif kind == "V":
        value, pos = _read_length(data, pos)
    elif kind == "B":
        value, pos = _read_binary(data, pos)
    elif kind == "S":
        value, pos = _read_string(data, pos)
    else:
        name, pos = _read_string(data, pos)
        text, pos = _read_string(data, pos)
        value = (name, text)
    return (ident, value), pos


def decode_properties(data: memoryview, pos: int) -> tuple[list[Property], int]:
    """The property list at ``pos`` (§2.2.2), in order, repeats kept; and the position after."""
    length, pos = _read_length(data, pos)
    end = pos + length
    if end > len(data):
        raise MqttProtocolError("mqtt.malformed_packet", "properties run past their packet")
    found: list[Property] = []
    while pos < end:
        prop, pos = _read_property(data, pos)
        found.append(prop)
    if pos != end:
        raise MqttProtocolError("mqtt.malformed_packet", "a property runs past its list")
    return found, end


class Decoder:
    """Turns the broker's byte stream into packets; an unfinished packet waits for more bytes."""

    def __init__(self, version: int = MQTT_5) -> None:
        self._v5 = version == MQTT_5
        self._buffer = bytearray()
        self._aliases: dict[int, str] = {}  # topic aliases the broker set (§3.3.2.3.4)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet decoded."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def decode(self, max_publishes: int = sys.maxsize) -> list[Packet]:
        """Every complete packet buffered, stopping before PUBLISH number ``max_publishes + 1``."""
        buf = self._buffer
        end = len(buf)
        pos = 0
        out: list[Packet] = []
        left = max_publishes
        view = memoryview(buf)
        try:
            while end - pos >= 2:
                first = buf[pos]
                start, length = pos + 2, buf[pos + 1]
                if length > 0x7F:
                    found = decode_length(buf, pos + 1)
                    if found is None:
                        break
                    length, start = found
                stop = start + length
                if stop > end:
                    break
                if first >> 4 == 3:
                    if not left:
                        break
                    out.append(self._publish(first, buf, view, start, stop))
                    left -= 1
                else:
                    out.append(self._control(first, view[start:stop]))
                pos = stop
        except (IndexError, struct.error, UnicodeDecodeError) as exc:
            raise MqttProtocolError("mqtt.malformed_packet", f"cannot decode: {exc}") from exc
        finally:
            view.release()
        del buf[:pos]
        return out

    def _publish(
        self, first: int, buf: bytearray, view: memoryview, start: int, stop: int
    ) -> Publish:
        pos = start + 2 + (buf[start] << 8 | buf[start + 1])
        topic = str(view[start + 2 : pos], "utf-8")
        qos = first >> 1 & 3
        packet_id = 0
        if qos:
            if qos > 1:
                raise MqttProtocolError("mqtt.qos_unsupported", f"a QoS {qos} PUBLISH")
            packet_id = buf[pos] << 8 | buf[pos + 1]
            pos += 2
        if self._v5:
            if buf[pos]:
                topic, pos = self._publish_properties(topic, view[:stop], pos)
            else:
                pos += 1
        if pos > stop:
            raise MqttProtocolError("mqtt.malformed_packet", "PUBLISH header past its length")
        return Publish(
            topic, bytes(view[pos:stop]), packet_id, qos, bool(first & 8), bool(first & 1)
        )

    def _publish_properties(self, topic: str, packet: memoryview, pos: int) -> tuple[str, int]:
        """Skips PUBLISH properties; applies a Topic Alias (§3.3.2.3.4)."""
        properties, pos = decode_properties(packet, pos)
        alias = next((v for k, v in properties if k == TOPIC_ALIAS), None)
        if not isinstance(alias, int):
            return topic, pos
        if topic:
            self._aliases[alias] = topic
            return topic, pos
        if alias not in self._aliases:
            raise MqttProtocolError(
                "mqtt.topic_alias_unknown", f"topic alias {alias} was never set"
            )
        return self._aliases[alias], pos

    def _control(self, first: int, body: memoryview) -> Packet:
        kind = first >> 4
        if kind == 2:  # CONNACK §3.2
            props = decode_properties(body, 2)[0] if self._v5 else []
            return Connack(bool(body[0] & 1), body[1], props)
        if kind == 9:  # SUBACK §3.9
            pos = decode_properties(body, 2)[1] if self._v5 else 2
            return Suback(_U16.unpack_from(body)[0], tuple(body[pos:]))
        if kind == 13:  # PINGRESP §3.13
            return Pingresp()
        if kind == 14:  # DISCONNECT §3.14: no reason byte means Normal disconnection
            return Disconnect(body[0] if len(body) else 0)
        raise MqttProtocolError(
            "mqtt.unexpected_packet", f"packet type {kind} sent to a subscriber"
        )
