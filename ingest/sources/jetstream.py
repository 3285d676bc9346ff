"""The JetStream source: the partitions of a NATS cluster's MQTT stream, one owner each.

The network servers publish QoS 1 to the NATS MQTT listener, which stores every message in
the R3 stream ``$MQTT_msgs`` before its PUBACK; the server's subject mapping puts each device
on a fixed partition (``$MQTT.msgs.part.<p>.<topic>``). Each partition has a durable pull
consumer with a ``pinned_client`` priority group (``ingest/sources/pinned.py``): the replica
holding the pin gets all of that partition's messages, the others stand by and take over when
it stops pulling. Messages are acknowledged only after the pipeline made them durable, so a
replica that dies leaves its unacknowledged messages to be redelivered to the new owner.

A replica pulls its own share of the partitions (``p mod replicas == replica``). The server
gives a pin out lazily, to a request waiting when a message comes, so a replica pulls another
replica's partition only once that partition looks orphaned: messages waiting and neither
delivery nor acknowledgement moving for ``takeover_after`` seconds. Then it waits in line, and
the server pins it once the silent owner's ``priority_timeout`` has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Self

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from ingest.errors import CityIngestError, ConfigError
from ingest.model import Message
from ingest.settings import NatsSettings
from ingest.sources.inbox import Inbox, SourceState
from ingest.sources.natsclient import connect
from ingest.sources.pinned import (
    ConsumerSpec,
    PinnedPull,
    consumer_info,
    unpin,
)

__all__ = ["JetStreamSource", "consumer_specs", "topic_of"]

log = logging.getLogger(__name__)
"""Pinned-client priority groups exist from nats-server 2.11; 2.9 silently ignores them."""
_PULL_EXPIRES_S = 1.0
_PULL_BATCH = 500
_PREFIX = "$MQTT.msgs.part."
_LIMITS = ("ack_wait", "max_deliver", "max_ack_pending", "priority_timeout")

OnGain = Callable[[int], Coroutine[None, None, None]]
"""Called when this replica wins a partition, before any of its messages is handed out."""
OnPoison = Callable[[Message, int], None]
"""Called with a message delivered ``max_deliver`` times (and how often), before it is dropped."""


def consumer_specs(settings: NatsSettings) -> list[ConsumerSpec]:
    """The consumer of every partition."""
    return [
        ConsumerSpec(
            stream=settings.stream,
            name=f"{settings.consumer_prefix}{p}",
            filter_subject=f"{_PREFIX}{p}.>",
            group=settings.group,
            priority_timeout=settings.priority_timeout,
            ack_wait=settings.ack_wait,
            max_deliver=settings.max_deliver,
            max_ack_pending=settings.max_ack_pending,
        )
        for p in range(settings.partitions)
    ]


def topic_of(subject: str) -> str:
    """``$MQTT.msgs.part.3.application.a.device.d.event.up`` → the MQTT topic
    ``application/a/device/d/event/up`` (NATS writes a ``.`` inside a level as ``//``)."""
    rest = subject[len(_PREFIX) :].partition(".")[2]
    return rest.replace("//", "\0").replace(".", "/").replace("\0", ".")


class JetStreamSource(Inbox):
    """Batches from the partitions this replica holds; an async context manager."""

    def __init__(
        self,
        settings: NatsSettings,
        *,
        on_gain: OnGain,
        on_poison: OnPoison,
        now: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(now)
        self._settings = settings
        self._on_gain = on_gain
        self._on_poison = on_poison
        self._client: Client | None = None
        self._msgs: dict[int, Msg] = {}  # token → the delivery to acknowledge
        self._next_token = 1
        self._paused = False
        self._keepalive_period = settings.ack_wait / 3
        self._max_deliver: dict[int, int] = {}  # as the server's consumers hold it
        self._answers: set[asyncio.Future[None]] = set()  # acks and terms being sent
        self._pullers: list[PinnedPull] = []

    async def __aenter__(self) -> Self:
        self.state = SourceState.CONNECTING
        client = self._client = await connect(self._settings)
        specs = consumer_specs(self._settings)
        for p, spec in enumerate(specs):
            held = await _check_consumer(client, spec)
            self._max_deliver[p] = held["max_deliver"]
            self._keepalive_period = min(self._keepalive_period, held["ack_wait"] / 3e9)
        self._tasks = [
            asyncio.create_task(self._pull_loop(spec, p)) for p, spec in enumerate(specs)
        ]
        self._tasks.append(asyncio.create_task(self._keep_alive(), name="jetstream-in-progress"))
        self._subscribed()
        return self

    async def _disconnect(self) -> None:
        """Send the acknowledgements still under way, give back what was never handed out,
        release the pins, then drain and close the connection."""
        await asyncio.gather(*self._answers, return_exceptions=True)
        if self._client is None or self._client.is_closed:
            return
        client = self._client
        # taken from the server, never handed to the pipeline: redeliver now, not after ack_wait
        await asyncio.gather(*(msg.nak() for msg in self._msgs.values()), return_exceptions=True)
        pinned = [puller.spec for puller in self._pullers if puller.pin]
        await asyncio.gather(*(unpin(client, spec) for spec in pinned))
        await client.drain()

    def _answer(self, reply: Coroutine[None, None, None]) -> None:
        """Send an acknowledgement (or term) in the background; stopping waits for it."""
        task = asyncio.ensure_future(reply)
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge durable messages (the server then forgets them)."""
        msgs = [m for m in (self._msgs.pop(message.token, None) for message in messages) if m]
        self._held -= len(messages)
        if msgs and self._client is not None and not self._client.is_closed:
            self._answer(_publish_acks(msgs))

    def pause(self) -> None:
        """Stop pulling: the pins lapse after ``priority_timeout``; other replicas take over."""
        self._paused = True

    async def _pull_loop(self, spec: ConsumerSpec, partition: int) -> None:
        s = self._settings
        assert self._client is not None  # noqa: S101 - connected in __aenter__
        if partition % s.replicas != s.replica:
            await _orphaned(self._client, spec, s.takeover_after)
            log.info(
                "partition %d: no progress for %.0f s; standing by", partition, s.takeover_after
            )
        puller = PinnedPull(self._client, spec)
        self._pullers.append(puller)
        try:
            while not self._paused and self.state is not SourceState.CLOSED:
                msgs, gained = await self._pull(puller, partition)
                if gained:
                    log.info("partition %d: this replica holds it now", partition)
                    msgs = await self._while_rebuilding(puller, partition, msgs)
                self._take(msgs, partition)
        finally:
            await puller.close()

    async def _pull(self, puller: PinnedPull, partition: int) -> tuple[list[Msg], bool]:
        """One pull; a connection problem (the client reconnects by itself) pulls nothing."""
        try:
            return await puller.pull(_PULL_BATCH, _PULL_EXPIRES_S)
        except NatsError as exc:
            self.last_error = f"partition {partition}: {type(exc).__name__}: {exc}"
            log.warning("pulling %s", self.last_error)
            await asyncio.sleep(_PULL_EXPIRES_S)
            return [], False

    async def _while_rebuilding(
        self, puller: PinnedPull, partition: int, first: list[Msg]
    ) -> list[Msg]:
        """Run the hand-over of a gained partition. Pulling goes on meanwhile (without pulls
        the pin would lapse); the ``first`` messages and what arrives are held, marked in
        progress, and returned for afterwards."""
        rebuild = asyncio.create_task(self._on_gain(partition))
        held = list(first)
        marked = time.monotonic()
        while not rebuild.done():
            more, _ = await self._pull(puller, partition)
            held += more
            if time.monotonic() - marked > self._keepalive_period:
                await asyncio.gather(*(msg.in_progress() for msg in held), return_exceptions=True)
                marked = time.monotonic()
        try:
            rebuild.result()
        except CityIngestError as exc:
            log.error(  # noqa: TRY400 - a database problem, not a bug: no traceback
                "partition %d: open windows not rebuilt (%s); its aggregates miss earlier "
                "readings until `city-ingest reaggregate`",
                partition,
                exc,
            )
        return held

    def _take(self, msgs: list[Msg], partition: int) -> None:
        now = self._now()
        taken = 0
        for msg in msgs:
            message = Message(topic_of(msg.subject), msg.data, now, self._next_token, partition)
            delivered = msg.metadata.num_delivered
            self.redelivered += delivered > 1
            if delivered >= self._max_deliver[partition]:
                self._on_poison(message, delivered)
                self._answer(msg.term())
                continue
            self._msgs[self._next_token] = msg
            self._next_token += 1
            self._pending.append(message)
            taken += 1
        if taken:
            self._arrived(taken, now)

    async def _keep_alive(self) -> None:
        """Tell the server that messages held past a third of ``ack_wait`` are still worked on."""
        while True:
            await asyncio.sleep(self._keepalive_period)
            for msg in list(self._msgs.values()):
                try:
                    await msg.in_progress()
                except NatsError:
                    break  # disconnected: the server redelivers what it must


async def _orphaned(client: Client, spec: ConsumerSpec, period: float) -> None:
    """Return once the consumer holds messages and made no progress for a whole ``period``."""
    before: tuple[object, ...] | None = None
    while True:
        try:
            info = await consumer_info(client, spec.stream, spec.name) or {}
        except NatsError:  # no answer (a leader election, a reconnect): look again later
            info = {}
        waiting = info.get("num_pending", 0) + info.get("num_ack_pending", 0)
        progress = (info.get("delivered"), info.get("ack_floor"))
        if waiting and progress == before:
            return
        before = progress if waiting else None  # stuck means: waiting at both ends of a period
        await asyncio.sleep(period)


async def _publish_acks(msgs: list[Msg]) -> None:
    for msg in msgs:
        try:
            await msg.ack()
        except NatsError:
            return  # not acknowledged: redelivered, and idempotent writes absorb the copy


async def _check_consumer(client: Client, spec: ConsumerSpec) -> dict[str, Any]:
    """The consumer's config as the server holds it; ``ConfigError`` if it is missing or has
    no pinned group. Limits that differ from the settings are logged: the server's apply."""
    info = await consumer_info(client, spec.stream, spec.name)
    fix = "run `city-ingest jetstream-setup --config …` before the network servers publish"
    if info is None:
        raise ConfigError(
            "nats.partitions",
            f"consumer {spec.name} of stream {spec.stream} is missing (messages nobody "
            "consumes are dropped after their PUBACK)",
            fix,
        )
    held: dict[str, Any] = info.get("config", {})
    if held.get("priority_policy") != "pinned_client":
        raise ConfigError("nats.group", f"consumer {spec.name} has no pinned_client group", fix)
    wanted = spec.config()
    differ = [key for key in _LIMITS if held.get(key) != wanted[key]]
    if differ:
        log.warning(
            "consumer %s: %s differ from the config; the server's values apply until "
            "`city-ingest jetstream-setup` updates them",
            spec.name,
            ", ".join(f"{key} {held.get(key)} (config {wanted[key]})" for key in differ),
        )
    return held
