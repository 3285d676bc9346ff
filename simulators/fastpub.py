"""A load publisher: pre-encoded MQTT 3.1.1 QoS 1 PUBLISH packets written in large chunks.

For benchmarks only: a paho publisher spends ~60 µs of Python per message, which caps a load test
far below what the broker and city-ingest can take. Here every PUBLISH packet is encoded before
timing starts (MQTT 3.1.1, by ``ingest.sources.wire``), written to the socket
in chunks of up to ``chunk`` packets, and PUBACKs (§3.4: ``0x40 0x02`` + packet id) are counted
as they stream back, keeping at most ``window`` messages unacknowledged. It does no reconnect and
no retransmission: a broken connection fails the run with ``ConnectionError``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.sources import wire

__all__ = ["FastPublishReport", "fast_publish"]

_CONNACK, _PUBACK = 0x20, 0x40
_MAX_PACKET_ID = 65535


@dataclass(frozen=True, slots=True)
class FastPublishReport:
    published: int
    seconds: float  # from the first byte written to the last PUBACK read

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


def fast_publish(
    host: str,
    port: int,
    messages: Sequence[tuple[str, bytes]],
    *,
    window: int = 20_000,
    chunk: int = 500,
    client_id: str = "city-ingest-fastpub",
    login: tuple[str, str] | None = None,
) -> FastPublishReport:
    """Publish ``messages`` with QoS 1 as fast as the broker acknowledges them (as the user
    ``login`` = (name, password) where the broker wants one)."""
    window = min(window, _MAX_PACKET_ID - 1)
    packets = [
        wire.encode_publish(
            topic, payload, qos=1, packet_id=i % _MAX_PACKET_ID + 1, version=wire.MQTT_311
        )
        for i, (topic, payload) in enumerate(messages)
    ]
    username, password = login or (None, None)
    hello = wire.encode_connect(
        client_id,
        keepalive=60,
        clean_start=True,
        username=username,
        password=password,
        version=wire.MQTT_311,
    )
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(hello)
        connack = _read_exactly(sock, 4)
        if connack[0] != _CONNACK or connack[3] != 0:
            msg = f"broker refused the connection: CONNACK {connack.hex()}"
            raise ConnectionError(msg)
        started = time.perf_counter()
        sent = acked = 0
        pending = b""
        while acked < len(packets):
            room = sent < len(packets) and sent - acked < window
            if room:
                upto = min(len(packets), sent + chunk, acked + window)
                sock.settimeout(30)
                sock.sendall(b"".join(packets[sent:upto]))
                sent = upto
            sock.settimeout(0 if room else 30)  # poll while there is more to send
            pending, count = _count_pubacks(pending + _receive(sock))
            acked += count
        return FastPublishReport(len(packets), time.perf_counter() - started)


def _receive(sock: socket.socket) -> bytes:
    try:
        data = sock.recv(1 << 16)
    except BlockingIOError:
        return b""
    if not data:
        msg = "broker closed the connection"
        raise ConnectionError(msg)
    return data


def _count_pubacks(data: bytes) -> tuple[bytes, int]:
    """Count whole PUBACK packets; return the incomplete tail and the count."""
    whole = len(data) - len(data) % 4
    if data[:whole:4].count(_PUBACK) != whole // 4:
        msg = f"unexpected packet from the broker: {data[:8].hex()}"
        raise ConnectionError(msg)
    return data[whole:], whole // 4


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            msg = "broker closed the connection"
            raise ConnectionError(msg)
        data += part
    return data
