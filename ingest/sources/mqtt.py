"""The MQTT source: QoS 1, persistent session, acknowledgement only after durability.

paho-mqtt (MQTT 5, ``manual_ack=True``) is driven from the asyncio loop through its socket
callbacks, so receiving, batching and acknowledging all happen on one thread. Each message's
``token`` packs the connection generation and the packet id; ``ack`` sends PUBACKs only for
messages of the current connection: after a reconnect the broker redelivers whatever was not
acknowledged (same session), and deduplication plus idempotent points absorb the copies.

Backpressure: at most ``max_in_flight`` messages are held (received, not yet acknowledged).
Past that the source stops reading the socket; TCP and the broker's in-flight window hold the
rest. The broker also honours our MQTT 5 Receive Maximum (``mqtt.receive_maximum``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.model import Message
from ingest.settings import MqttSettings
from ingest.sources.inbox import Inbox, SourceState

__all__ = ["MqttSource"]

log = logging.getLogger(__name__)
_MID_BITS = 16
_SocketCallback = Callable[[paho.Client, Any, "paho.SocketLike"], None]
_READS_PER_WAKEUP = 2000


class MqttSource(Inbox):
    """Receives QoS 1 messages in batches; an async context manager."""

    def __init__(
        self,
        settings: MqttSettings,
        topic_filters: Sequence[str],
        *,
        max_in_flight: int,
        now: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(now)
        self._settings = settings
        self._filters = list(topic_filters)
        self._max_in_flight = max_in_flight
        self._generation = 0
        self._paused = False
        self._lost = asyncio.Event()
        self._client = self._make_client()
        self._sock: paho.SocketLike | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name="mqtt-connect"),
            asyncio.create_task(self._misc_loop(), name="mqtt-keepalive"),
        ]
        return self

    async def _disconnect(self) -> None:
        if self._sock is not None:
            self._client.disconnect()
            self._client.loop_write()
            self._drop_socket()

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge messages whose outcome is durable (PUBACK on the current connection)."""
        live = self.state in (SourceState.CONNECTED, SourceState.SUBSCRIBED)
        for message in messages:
            generation, mid = divmod(message.token, 1 << _MID_BITS)
            if generation != self._generation:
                continue  # an old connection's message: the broker redelivers it
            self._held -= 1
            if live and mid:
                self._client.ack(mid, 1)
        self._resume_if_room()

    def pause(self) -> None:
        """Stop reading from the broker (used while draining on shutdown)."""
        self._max_in_flight = 0
        self._set_reading(False)

    # -- paho callbacks ------------------------------------------------------------------------
    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        token = (self._generation << _MID_BITS) | msg.mid
        self._deliver(Message(msg.topic, bytes(msg.payload), self._now(), token))
        if self.in_flight >= self._max_in_flight:
            self._set_reading(False)

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error(
                "MQTT %s:%d %s; check mqtt.username/password and the broker's ACL",
                self._settings.host,
                self._settings.port,
                self.last_error,
            )
            return
        self.session_present = flags.session_present
        self.state = SourceState.CONNECTED
        options = SubscribeOptions(qos=self._settings.qos)
        client.subscribe([(topic, options) for topic in self._filters])
        log.info(
            "MQTT connected to %s:%d (session present: %s)",
            self._settings.host,
            self._settings.port,
            flags.session_present,
        )

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [f for f, r in zip(self._filters, reasons, strict=False) if r.is_failure]
        if refused:
            self.last_error = f"broker refused subscriptions {refused}"
            log.error("MQTT %s: check the broker ACL for the ingest user", self.last_error)
            return
        self._subscribed()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.state is not SourceState.CLOSED:
            self.state = SourceState.DISCONNECTED
            self.last_error = f"disconnected: {reason}"
            log.warning("MQTT connection lost (%s); reconnecting", reason)
        self._connected.clear()
        self._drop_socket()
        self._lost.set()

    # -- socket plumbing (paho's external-loop API) ------------------------------------------
    def _on_socket_open(self, client: paho.Client, userdata: object, sock: paho.SocketLike) -> None:
        self._sock = sock
        self._paused = True
        self._set_reading(True)

    def _on_socket_close(
        self, client: paho.Client, userdata: object, sock: paho.SocketLike
    ) -> None:
        self._drop_socket()

    def _on_register_write(
        self, client: paho.Client, userdata: object, sock: paho.SocketLike
    ) -> None:
        assert self._loop is not None  # noqa: S101 - set in __aenter__ before any socket exists
        self._loop.add_writer(sock, self._client.loop_write)

    def _on_unregister_write(
        self, client: paho.Client, userdata: object, sock: paho.SocketLike
    ) -> None:
        if self._loop is not None:
            self._loop.remove_writer(sock)

    def _on_readable(self) -> None:
        for _ in range(_READS_PER_WAKEUP):
            before = self.received
            rc = self._client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self.received == before or self._paused:
                return

    def _set_reading(self, on: bool) -> None:
        if self._loop is None or self._sock is None or on != self._paused:
            return
        self._paused = not on
        if on:
            self._loop.add_reader(self._sock, self._on_readable)
        else:
            self._loop.remove_reader(self._sock)

    def _resume_if_room(self) -> None:
        if self._paused and self.in_flight <= self._max_in_flight // 2:
            self._set_reading(True)

    def _drop_socket(self) -> None:
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)
            self._loop.remove_writer(self._sock)
        self._sock = None

    # -- connection management ---------------------------------------------------------------
    async def _connection_loop(self) -> None:
        delay = self._settings.reconnect_min_delay
        while self.state is not SourceState.CLOSED:
            self._lost.clear()
            try:
                await self._connect()
            except (OSError, ssl.SSLError) as exc:
                self.state = SourceState.DISCONNECTED
                self.last_error = (
                    f"cannot connect to {self._settings.host}:{self._settings.port}: {exc}"
                )
                log.warning("MQTT %s; retrying in %.1f s", self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.reconnect_max_delay)
                continue
            delay = self._settings.reconnect_min_delay
            await self._lost.wait()

    async def _connect(self) -> None:
        self.state = SourceState.CONNECTING
        self._generation += 1
        self._held = 0  # what was held belongs to the old connection: the broker redelivers it
        self._pending.clear()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.session_expiry
        properties.ReceiveMaximum = self._settings.receive_maximum
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._blocking_connect, properties)

    def _blocking_connect(self, properties: Properties) -> None:
        s = self._settings
        self._client.connect(
            s.host, s.port, keepalive=s.keepalive, clean_start=s.clean_start, properties=properties
        )

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._sock is not None:
                self._client.loop_misc()

    def _make_client(self) -> paho.Client:
        s = self._settings
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if s.username is not None:
            password = s.password.get_secret_value() if s.password is not None else None
            client.username_pw_set(s.username, password)
        if s.tls:
            client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = self._threadsafe(self._on_socket_open)
        client.on_socket_close = self._threadsafe(self._on_socket_close)
        client.on_socket_register_write = self._threadsafe(self._on_register_write)
        client.on_socket_unregister_write = self._threadsafe(self._on_unregister_write)
        return client

    def _threadsafe(self, callback: _SocketCallback) -> _SocketCallback:
        """paho calls socket callbacks from ``connect`` in an executor thread: hop to the loop."""

        def call(client: paho.Client, userdata: object, sock: paho.SocketLike) -> None:
            loop = self._loop
            if loop is None:
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                callback(client, userdata, sock)
            else:
                loop.call_soon_threadsafe(callback, client, userdata, sock)

        return call
