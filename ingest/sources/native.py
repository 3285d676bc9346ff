"""The MQTT source on a minimal asyncio protocol, with ``MqttSource``'s interface and semantics.

Same contract as ``ingest.sources.mqtt.MqttSource`` (QoS 1, persistent session, PUBACK only
through ``ack``; a token packs the connection generation and the packet id; acks of an old
connection are dropped and the broker redelivers), without paho: ``ingest.sources.wire`` frames
packets straight from ``asyncio.Protocol.data_received``, many per read, and the PUBACKs of one
``ack`` call leave in one ``transport.write``. PUBACKs go out strictly in the order their
PUBLISHes arrived (MQTT 5.0 §4.6, MQTT-4.6.0-2): an ack that overtakes an earlier,
unacknowledged message waits for it.

Backpressure: at most ``max_in_flight`` messages are held (received, not yet acknowledged);
past that the transport stops reading and undecoded bytes wait, until half is free again.
Keep alive (§3.1.2.10): a PINGREQ after ``keepalive / 2`` s without sending; a PINGRESP that
does not come within ``keepalive / 2`` s (while reading) counts as a lost connection.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Self

from ingest.errors import MqttProtocolError
from ingest.model import Message
from ingest.settings import MqttSettings
from ingest.sources import wire
from ingest.sources.inbox import Inbox, SourceState
from ingest.sources.wire import Publish

__all__ = ["NativeMqttSource"]

log = logging.getLogger(__name__)
_MID_BITS = 16
_MID_MASK = (1 << _MID_BITS) - 1
_HANDSHAKE_TIMEOUT = 10.0  # seconds for TCP + TLS + CONNACK: a silent broker is not waited on
_CLOSE_TIMEOUT = 2.0
_SUBSCRIBE_ID = 1
_LIVE = (SourceState.CONNECTED, SourceState.SUBSCRIBED)


class _Link(asyncio.Protocol):
    """One connection to the broker: its transport, decoder and keep-alive bookkeeping."""

    def __init__(self, source: NativeMqttSource, version: int) -> None:
        self.source = source
        self.decoder = wire.Decoder(version)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[wire.Connack | None] = loop.create_future()  # None: closed
        self.closed: asyncio.Future[None] = loop.create_future()
        self.keepalive: asyncio.Task[None] | None = None
        self.reading = True
        self.subscribed_at = 0.0  # monotonic time of the SUBACK, 0 until then
        self.why = ""  # the source's last_error when this connection ends, if known better
        self.last_write = self.resumed_at = time.monotonic()
        self.ping_sent = 0.0  # monotonic time of the unanswered PINGREQ, 0 if none

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - stream connections only
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.decoder.feed(data)
        self.source._take(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_result(None)
        if self.keepalive is not None:
            self.keepalive.cancel()
        self.closed.set_result(None)
        self.source._on_lost(self, exc)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_write = time.monotonic()

    def set_reading(self, on: bool) -> None:
        if self.transport is None or on == self.reading or self.transport.is_closing():
            return
        self.reading = on
        if on:
            self.resumed_at = time.monotonic()
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def fail(self, why: str) -> None:
        """End the connection now; ``why`` becomes the source's ``last_error``."""
        self.why = self.why or why
        if self.transport is not None:
            self.transport.abort()

    async def keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            waited = now - max(self.ping_sent, self.resumed_at)
            if self.ping_sent and self.reading and waited >= interval:
                self.fail(f"disconnected: no PINGRESP within {interval:g} s")
                return
            if not self.ping_sent and now - self.last_write >= interval:
                self.write(wire.PINGREQ)
                self.ping_sent = now


class NativeMqttSource(Inbox):
    """Receives QoS 1 messages in batches; an async context manager. See the module doc."""

    def __init__(
        self,
        settings: MqttSettings,
        topic_filters: Sequence[str],
        *,
        max_in_flight: int,
        now: Callable[[], int] = time.time_ns,
        protocol_version: int = wire.MQTT_5,
    ) -> None:
        if protocol_version not in (4, wire.MQTT_5):
            msg = f"protocol_version must be 4 (MQTT 3.1.1) or 5, got {protocol_version}"
            raise ValueError(msg)
        super().__init__(now)
        self._settings = settings
        self._filters = list(topic_filters)
        self._max_in_flight = max_in_flight
        self._version = protocol_version
        self._order: deque[int] = deque()  # packet ids of this connection, in order of receipt
        self._acked: set[int] = set()  # acknowledged, waiting for an earlier one (MQTT-4.6.0-2)
        self._generation = 0
        self._lost = asyncio.Event()
        self._link: _Link | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._tasks = [asyncio.create_task(self._connection_loop(), name="mqtt-connect")]
        return self

    async def _disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None and link.keepalive is not None:
            link.keepalive.cancel()
        if link is not None and link.transport is not None:
            link.write(wire.encode_disconnect(0, self._version))  # §3.14: the session stays
            link.transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(link.closed), _CLOSE_TIMEOUT)
            except TimeoutError:
                link.transport.abort()

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge messages whose outcome is durable (PUBACK on the current connection)."""
        generation = self._generation
        acked = self._acked
        for message in messages:
            if message.token >> _MID_BITS != generation:
                continue  # an old connection's message: the broker redelivers it
            self._held -= 1
            acked.add(message.token & _MID_MASK)
        acked.discard(0)  # QoS 0: nothing to acknowledge
        order, ready = self._order, []
        while order and order[0] in acked:
            acked.remove(order[0])
            ready.append(order.popleft())
        if ready and self._link is not None and self.state in _LIVE:
            self._link.write(wire.encode_pubacks(ready))
        self._resume_if_room()

    def pause(self) -> None:
        """Stop reading from the broker (used while draining on shutdown)."""
        self._max_in_flight = 0
        if self._link is not None:
            self._link.set_reading(False)

    # -- the hot path: from data_received ------------------------------------------------------
    def _take(self, link: _Link) -> None:
        """Decode what ``link`` buffered, as far as ``max_in_flight`` leaves room."""
        if link is not self._link:
            return  # a connection being torn down: its messages belong to no generation
        try:
            packets = link.decoder.decode(max(self._max_in_flight - self.in_flight, 0))
        except MqttProtocolError as exc:
            link.fail(f"disconnected: protocol error from the broker: {exc}")
            return
        now = self._now()
        base = self._generation << _MID_BITS
        pending, order, acked = self._pending, self._order, self._acked
        count = 0
        for packet in packets:
            if type(packet) is Publish:
                pending.append(Message(packet.topic, packet.payload, now, base | packet.packet_id))
                if packet.packet_id:
                    order.append(packet.packet_id)
                    acked.discard(packet.packet_id)  # a stale double ack must not cover it
                count += 1
            else:
                self._on_control(link, packet)
        if count:
            self._arrived(count, now)
        if self.in_flight >= self._max_in_flight:
            link.set_reading(False)

    def _resume_if_room(self) -> None:
        link = self._link
        if link is None or link.reading or self._max_in_flight <= 0:
            return
        if self.in_flight <= self._max_in_flight // 2:
            link.set_reading(True)
            self._take(link)

    def _on_control(self, link: _Link, packet: wire.Packet) -> None:
        if isinstance(packet, wire.Connack):
            if not link.connack.done():
                link.connack.set_result(packet)
        elif isinstance(packet, wire.Suback):
            self._on_suback(link, packet)
        elif isinstance(packet, wire.Disconnect):
            link.fail(f"disconnected by the broker: {wire.reason_name(packet.reason_code)}")
        else:  # PINGRESP
            link.ping_sent = 0.0

    def _on_suback(self, link: _Link, suback: wire.Suback) -> None:
        refused = [
            f"{topic} ({wire.reason_name(code, self._version)})"
            for topic, code in zip(self._filters, suback.reason_codes, strict=False)
            if code >= 0x80  # §3.9.3: 0x80 and above are failures (3.1.1 §3.9.3: 0x80)
        ]
        if refused:
            link.fail(f"broker refused subscriptions: {', '.join(refused)}")
            log.error("MQTT %s; check the broker ACL for the ingest user", link.why)
            return
        link.subscribed_at = time.monotonic()
        self._subscribed()

    def _on_lost(self, link: _Link, exc: Exception | None) -> None:
        if link is not self._link or self.state is SourceState.CONNECTING:
            return  # not ours, or still in the handshake, whose failure _abandon reports
        self._link = None
        self._connected.clear()
        if self.state is not SourceState.CLOSED:
            self.state = SourceState.DISCONNECTED
            detail = str(exc) if exc else "connection closed by the broker"
            self.last_error = link.why or f"disconnected: {detail}"
        self._lost.set()

    # -- connection management ---------------------------------------------------------------
    async def _connection_loop(self) -> None:
        s = self._settings
        delay = s.reconnect_min_delay
        while self.state is not SourceState.CLOSED:
            self._lost.clear()
            link = self._new_link()
            try:
                await self._connect(link)
                await self._lost.wait()
            except (OSError, MqttProtocolError) as exc:
                self._abandon(link, exc)
            if link.subscribed_at and time.monotonic() - link.subscribed_at > s.reconnect_max_delay:
                delay = s.reconnect_min_delay  # it was up for a while: not a flapping connection
            log.warning("MQTT %s; reconnecting in %.1f s", self.last_error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, s.reconnect_max_delay)

    def _new_link(self) -> _Link:
        self.state = SourceState.CONNECTING
        self._generation += 1
        self._held = 0  # what was held belongs to the old connection: the broker redelivers it
        self._pending.clear()
        self._order.clear()
        self._acked.clear()
        self._link = _Link(self, self._version)
        return self._link

    async def _connect(self, link: _Link) -> None:
        s = self._settings
        context = ssl.create_default_context(cafile=s.ca_file) if s.tls else None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(_HANDSHAKE_TIMEOUT):
            await loop.create_connection(lambda: link, s.host, s.port, ssl=context)
            link.write(self._connect_packet())
            connack = await link.connack
        if connack is None or link.closed.done():
            raise ConnectionError("the connection closed during the handshake")
        if connack.reason_code >= (0x80 if self._version == wire.MQTT_5 else 1):  # §3.2.2.2
            reason = wire.reason_name(connack.reason_code, self._version)
            link.why = f"broker refused the connection: {reason}"
            raise ConnectionRefusedError(link.why)
        self._on_connack(link, connack)

    def _on_connack(self, link: _Link, connack: wire.Connack) -> None:
        s = self._settings
        self.session_present = connack.session_present
        self.state = SourceState.CONNECTED
        # A Server Keep Alive in the CONNACK replaces ours (§3.2.2.3.14).
        keepalive = dict(connack.properties).get(wire.SERVER_KEEP_ALIVE, s.keepalive)
        if isinstance(keepalive, int) and keepalive > 0:
            link.keepalive = asyncio.create_task(link.keep_alive(keepalive / 2), name="mqtt-ping")
        link.write(wire.encode_subscribe(_SUBSCRIBE_ID, self._filters, s.qos, self._version))
        log.info(
            "MQTT connected to %s:%d (session present: %s)", s.host, s.port, self.session_present
        )

    def _connect_packet(self) -> bytes:
        s = self._settings
        properties = [
            (wire.SESSION_EXPIRY_INTERVAL, s.session_expiry),
            (wire.RECEIVE_MAXIMUM, s.receive_maximum),
            (wire.TOPIC_ALIAS_MAXIMUM, 0),  # no aliases from the broker (§3.1.2.11.5)
        ]
        return wire.encode_connect(
            s.client_id,
            keepalive=s.keepalive,
            clean_start=s.clean_start,
            username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
            properties=properties,
            version=self._version,
        )

    def _abandon(self, link: _Link, exc: Exception) -> None:
        """A connection attempt failed: close what it opened and say why in ``last_error``."""
        self._link = None
        self._connected.clear()
        if link.transport is not None:
            link.transport.abort()
        if self.state is SourceState.CLOSED:
            return
        self.state = SourceState.DISCONNECTED
        s = self._settings
        why = f"no answer within {_HANDSHAKE_TIMEOUT:g} s" if isinstance(exc, TimeoutError) else exc
        self.last_error = link.why or f"cannot connect to {s.host}:{s.port}: {why}"
