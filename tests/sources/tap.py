"""A relay between an MQTT client and the broker that records every packet, both ways.

It runs on the test's event loop. Each client connection becomes a ``Relay`` with the raw
packets it carried (``to_broker``, ``to_client``, each a whole packet: fixed header + body).
Faults: ``Relay.silent`` swallows what the broker sends (a broker that stopped answering),
``Relay.inject`` sends a packet of its own to the client,
``Tap.rewrite`` changes client-bound packets, ``Tap.cut()`` drops every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Self

from ingest.sources.wire import Decoder, Publish, decode_length
from simulators.servers import ServerError

LOOPBACK = "127.0.0.1"

Rewrite = Callable[[bytes], bytes]


def split_packets(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete packets at the front of ``buffer``."""
    packets = []
    while len(buffer) >= 2:
        found = decode_length(buffer, 1)
        if found is None or found[0] + found[1] > len(buffer):
            break
        end = found[0] + found[1]
        packets.append(bytes(buffer[:end]))
        del buffer[:end]
    return packets


class Relay:
    """One client connection relayed to the broker."""

    def __init__(self, opened_at: float) -> None:
        self.opened_at = opened_at
        self.to_broker: list[bytes] = []
        self.to_client: list[bytes] = []
        self.silent = False
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []

    def sent(self, packet_type: int) -> list[bytes]:
        """Packets of ``packet_type`` (MQTT 5.0 §2.1.2) the client sent."""
        return [p for p in self.to_broker if p[0] >> 4 == packet_type]

    def puback_ids(self) -> list[int]:
        return [int.from_bytes(p[2:4], "big") for p in self.sent(4)]

    def publishes(self, version: int = 5) -> list[Publish]:
        """The PUBLISH packets the broker sent, decoded."""
        decoder = Decoder(version)
        decoder.feed(b"".join(p for p in self.to_client if p[0] >> 4 == 3))
        return [p for p in decoder.decode() if isinstance(p, Publish)]

    def inject(self, packet: bytes) -> None:
        """Send ``packet`` to the client as if the broker had sent it."""
        self.writers[0].write(packet)

    async def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Tap:
    """Listens on a free loopback port; every connection is relayed to ``broker_port``."""

    def __init__(self, broker_port: int, broker_host: str = LOOPBACK) -> None:
        self.broker = (broker_host, broker_port)
        self.relays: list[Relay] = []
        self.rewrite: Rewrite | None = None
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.cut()

    async def cut(self) -> None:
        """Drop every open connection, as a network failure would."""
        for relay in self.relays:
            await relay.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relay = Relay(asyncio.get_running_loop().time())
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.broker)
        except OSError as exc:
            writer.transport.abort()
            raise ServerError(f"tap: broker {self.broker} unreachable") from exc
        relay.writers = [writer, up_writer]
        self.relays.append(relay)
        relay.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, relay.to_broker, relay, None)),
            asyncio.create_task(self._pump(up_reader, writer, relay.to_client, relay, self)),
        ]

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: list[bytes],
        relay: Relay,
        client_bound: Tap | None,
    ) -> None:
        buffer = bytearray()
        try:
            while data := await reader.read(65536):
                buffer += data
                for packet in split_packets(buffer):
                    record.append(packet)
                    if client_bound is not None and relay.silent:
                        continue
                    rewrite = client_bound.rewrite if client_bound is not None else None
                    writer.write(rewrite(packet) if rewrite is not None else packet)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            for end in relay.writers:
                end.transport.abort()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
