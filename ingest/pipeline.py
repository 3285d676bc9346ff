"""Wiring: builds every stage from the settings and runs source → transform → sinks.

Sinks start first and the sources last; on stop the sources stop reading first, then the
batches already taken are finished, written and acknowledged, then the sinks close. One read
task per source and one writer, joined by a bounded queue, overlap decoding of one batch with the
write of the previous one; each source's acknowledgements follow the order of its batches.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from ingest.aggregation import Aggregator, points_lines
from ingest.dedup import Deduplicator
from ingest.errors import ConfigError, SinkUnavailable
from ingest.handover import Handover
from ingest.http import HttpServer
from ingest.integrations import integration_routes, integration_sources, register_metrics
from ingest.metrics import Accounting, Metrics
from ingest.model import Message, Network, Outcome, Reason
from ingest.plan import Plan
from ingest.settings import MqttClient, Settings
from ingest.sinks.deadletter import DeadLetter, DeadLetterStore, refused_letter
from ingest.sinks.influx import InfluxSink
from ingest.sinks.spool import Spool
from ingest.sinks.storage import Storage
from ingest.sources.base import Source
from ingest.sources.inbox import SourceState
from ingest.sources.jetstream import JetStreamSource
from ingest.sources.mqtt import MqttSource
from ingest.sources.native import NativeMqttSource
from ingest.status import StatusBoard
from ingest.transform import Prepared, Transformer, device_tag_suffixes

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)
_QUEUE_DEPTH = 2
_WATCHDOG_PERIOD_S = 10.0


class Pipeline:
    """The running service."""

    def __init__(self, the_plan: Plan, *, now: Callable[[], int] = time.time_ns) -> None:
        s = the_plan.settings
        self.plan = the_plan
        self.metrics = Metrics()
        self.dead_letters = DeadLetterStore(s.dead_letter.dir, s.dead_letter.max_bytes)
        self.sink = InfluxSink(s.influxdb)
        self.storage = Storage(
            self.sink,
            Spool(s.spool.dir, s.spool.max_bytes),
            spool_after=s.spool.after,
            on_rejected=self._spool_rejected,
            now=now,
        )
        self._now = now
        tags = device_tag_suffixes(the_plan.registry, the_plan.pseudonyms.name)
        self._device_tags = tags
        self.aggregator = Aggregator(s.processors, the_plan.registry.empty_mm)
        self._handover: Handover | None = None  # JetStream: rebuilds gained partitions
        self.source = self._transport()
        extra = integration_sources(
            s, live=self.source, storage=self.storage, max_in_flight=_in_flight(s), now=now
        )
        self.sources: list[Source] = [self.source, *extra]
        self._dedup = dedup = Deduplicator(
            s.dedup.window,
            s.dedup.max_entries,
            now,
            journal=s.processors.state_dir / "dedup.journal",
        )
        self.transformer = Transformer(
            [*integration_routes(s), *s.sources],
            the_plan.registry,
            the_plan.decoders,
            dedup,
            tags,
            quality=self.aggregator.quality,
            max_message_bytes=s.mqtt.max_message_bytes,
        )
        self.status = StatusBoard(
            the_plan.registry,
            the_plan.pseudonyms.name,
            s.privacy.location_grid_m,
            s.http.silent_after,
        )
        self._bind_gauges()
        self.http = HttpServer(s.http.listen, self)
        self._batch_messages = max(1, s.influxdb.batch_size // 2)

    def _transport(self) -> MqttSource | NativeMqttSource | JetStreamSource:
        """JetStream partitions if ``[nats]`` is present (with window hand-over), else MQTT."""
        s, the_plan = self.plan.settings, self.plan
        if s.nats is None:
            return _transport(s, self._now)
        handover = self._handover = Handover(
            influx=s.influxdb,
            registry=the_plan.registry,
            public_name=the_plan.pseudonyms.name,
            aggregator=self.aggregator,
            partitions=s.nats.partitions,
            horizon_s=max(
                s.processors.air.horizon_s,
                s.processors.noise.horizon_s,
                s.processors.waste.horizon_s,
            ),
            forget_after_s=s.dedup.window,  # redeliveries come within ack_wait; as for duplicates
            now=self._now,
        )
        return JetStreamSource(
            s.nats, on_gain=handover.rebuild, on_poison=self._poisoned, now=self._now
        )

    def _bind_gauges(self) -> None:
        m, spool = self.metrics, self.storage.spool
        m.mqtt_connected.set_function(lambda: float(self.source.state is SourceState.SUBSCRIBED))
        m.redelivered.set_function(lambda: self.source.redelivered)
        m.spool_batches.set_function(lambda: spool.records)
        m.spool_bytes.set_function(lambda: spool.bytes)
        m.spool_oldest_age.set_function(
            lambda: (self._now() - spool.oldest_ns) / 1e9 if spool.oldest_ns else 0.0
        )
        m.spool_full.set_function(lambda: float(self.storage.full))
        m.stalled.set_function(lambda: float(self.stalled))
        register_metrics(m.registry, self.sources)
        for network in {src.network for src in self.plan.settings.sources}:
            m.last_message_age.labels(network.value).set_function(
                functools.partial(self._message_age, network)
            )

    def _message_age(self, network: Network) -> float:
        seen = self.transformer.last_seen_ns.get(network)
        return float("nan") if seen is None else (self._now() - seen) / 1e9

    @property
    def stalled(self) -> bool:
        """Subscribed, yet nothing arrived for ``mqtt.stall_after`` seconds."""
        return self.source.quiet_for() > self.plan.settings.mqtt.stall_after

    def reload_registry(self) -> None:
        """SIGHUP: read the registry again without touching the MQTT session; a broken file
        is refused with an error log and the previous registry stays in use."""
        try:
            fresh = self.plan.reload_registry()
        except ConfigError as exc:  # a mistake in the file, not a bug: no traceback
            log.error("registry reload refused, the previous registry stays in use: %s", exc)  # noqa: TRY400
            return
        added = len(fresh.registry) - len(self.plan.registry)
        self.plan = fresh
        self._device_tags = device_tag_suffixes(fresh.registry, fresh.pseudonyms.name)
        self.transformer.use_registry(fresh.registry, self._device_tags)
        self.status.use_registry(fresh.registry, fresh.pseudonyms.name)
        self.aggregator.quality.use_empty_mm(fresh.registry.empty_mm)
        if self._handover is not None:
            self._handover.use_registry(fresh.registry, fresh.pseudonyms.name)
        log.info("registry reloaded: %d devices known, %d new", len(fresh.registry.by_eui), added)

    def now(self) -> int:
        """The service clock (ns), injected for tests."""
        return self._now()

    @property
    def totals(self) -> Accounting:
        return self.metrics.totals

    async def run(self, stop: asyncio.Event) -> Accounting:
        """Run until ``stop`` is set, then drain and return the totals."""
        self.dead_letters.open()
        if self.plan.settings.nats is None:  # JetStream: gained partitions are rebuilt instead
            self.aggregator.load()
        self._dedup.open()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.sink)
            await self._prepare_sink()
            await stack.enter_async_context(self.storage)
            await stack.enter_async_context(self.http)
            for source in self.sources:
                await stack.enter_async_context(source)
            queue: asyncio.Queue[_Taken | None] = asyncio.Queue(_QUEUE_DEPTH)
            writer = asyncio.create_task(self._write_loop(queue), name="writer")
            watchdog = asyncio.create_task(self._watch_stall(), name="stall-watchdog")
            try:
                await asyncio.gather(
                    *(self._read_loop(source, queue, stop, writer) for source in self.sources)
                )
            finally:
                watchdog.cancel()
                for source in self.sources:
                    source.pause()
                await self._drain(queue, writer)
                self.aggregator.save()
        log.info("stopped; totals: %s", self.totals.summary())
        return self.totals

    async def _prepare_sink(self) -> None:
        """Set up retention now if InfluxDB answers (a refusal stops start-up: ``ConfigError``);
        otherwise the first write does it, and batches spool meanwhile."""
        try:
            async with asyncio.timeout(self.plan.settings.influxdb.timeout):
                await self.sink.prepare()
        except (SinkUnavailable, TimeoutError) as exc:
            log.warning("InfluxDB is not reachable at start (%s); writes spool until it is", exc)

    async def _watch_stall(self) -> None:
        """Log once per episode when messages stop arriving on a live subscription."""
        was_stalled = False
        while True:
            await asyncio.sleep(_WATCHDOG_PERIOD_S)
            if self.stalled and not was_stalled:
                log.warning(
                    "connected to the broker but nothing arrived for %.0f s: check the "
                    "network servers' integrations and the topic filters",
                    self.source.quiet_for(),
                )
            elif was_stalled and not self.stalled:
                log.info("messages arrive again")
            was_stalled = self.stalled

    @property
    def in_flight(self) -> int:
        """Messages taken from every source and not yet acknowledged."""
        return sum(source.in_flight for source in self.sources)

    async def _drain(self, queue: asyncio.Queue[_Taken | None], writer: asyncio.Task[None]) -> None:
        """Finish the batches already taken, within ``influxdb.drain_timeout``."""
        timeout = self.plan.settings.influxdb.drain_timeout
        try:
            async with asyncio.timeout(timeout):
                await queue.put(None)
                await writer
        except TimeoutError:
            writer.cancel()
            log.warning(
                "stop: pending writes did not finish within %.1f s; %d messages stay "
                "unacknowledged and the broker will redeliver them",
                timeout,
                self.in_flight,
            )

    async def _read_loop(
        self,
        source: Source,
        queue: asyncio.Queue[_Taken | None],
        stop: asyncio.Event,
        writer: asyncio.Task[None],
    ) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set() and not writer.done():
                batch = asyncio.create_task(
                    source.next_batch(
                        self._batch_messages, self.plan.settings.influxdb.flush_interval
                    )
                )
                await asyncio.wait({batch, stopping, writer}, return_when=asyncio.FIRST_COMPLETED)
                if not batch.done():
                    batch.cancel()
                    break
                messages = batch.result()
                self.metrics.batch_size.observe(len(messages))
                for partition, n in Tally(m.partition for m in messages).items():
                    self.metrics.partition_messages.labels(str(partition)).inc(n)
                await queue.put(_Taken(source, self.transformer.transform(messages)))
                self.metrics.in_flight.set(self.in_flight)
        finally:
            stopping.cancel()

    async def _write_loop(self, queue: asyncio.Queue[_Taken | None]) -> None:
        while (taken := await queue.get()) is not None:
            await self._finish(taken.source, taken.prepared)

    async def _finish(self, source: Source, prepared: Prepared) -> None:
        started = time.perf_counter()
        result = await self.storage.store(prepared.lines)
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.write_retries.inc(result.retries)
        dead = dict(prepared.dead)
        for line_index, why in result.rejected:
            origin = prepared.origins[line_index]
            if origin not in dead:
                m = prepared.messages[origin]
                dead[origin] = refused_letter(m.topic, m.payload, why, m.received_ns)
        dropped = await asyncio.to_thread(self.dead_letters.append, list(dead.values()))
        self.metrics.dead_letters_dropped.inc(dropped)
        self._dedup.journal(prepared.keys)  # durable now: a later copy is a duplicate
        source.ack(prepared.messages)
        self.metrics.in_flight.set(self.in_flight)
        self.status.observe_links(prepared.links)
        self.status.observe_readings(prepared.readings)
        self.status.observe_dead_letters(list(dead.values()))
        outcomes: Tally[Outcome] = Tally(
            {
                Outcome.DEAD_LETTER: len(dead),
                Outcome.DUPLICATE: prepared.duplicates,
                Outcome.WRITTEN: len(prepared.messages) - len(dead) - prepared.duplicates,
            }
        )
        reasons = Tally(letter.reason for letter in dead.values())
        points = len(prepared.lines) - len(result.rejected)
        self.metrics.count(len(prepared.messages), outcomes, reasons, points)
        await self._aggregate(prepared)

    async def _aggregate(self, prepared: Prepared) -> None:
        """Fold the batch's acknowledged readings into the aggregates; write what they emit."""
        late_before = self.aggregator.late
        points = self.aggregator.process(prepared.readings, prepared.links)
        lines = points_lines([*prepared.revisions, *points], self._device_tags)
        self.metrics.late_readings.inc(self.aggregator.late - late_before)
        if not lines:
            return
        result = await self.storage.store(lines)
        self.metrics.aggregate_points.inc(len(lines) - len(result.rejected))
        for index, why in result.rejected:
            log.error("InfluxDB refused an aggregate point (%s): %s", why.strip(), lines[index])

    def _poisoned(self, message: Message, deliveries: int) -> None:
        """A message the transport delivered too often (it crashed or stalled every reader)."""
        log.error("dead-lettering a message delivered %d times: %s", deliveries, message.topic)
        letter = DeadLetter(
            topic=message.topic,
            payload=message.payload,
            reason=Reason.BAD_ENVELOPE,
            detail="source.max_deliver",
            message=f"delivered {deliveries} times without being acknowledged",
            received_ns=message.received_ns,
        )
        self.metrics.dead_letters_dropped.inc(self.dead_letters.append([letter]))

    async def _spool_rejected(self, rejected: list[tuple[str, str]]) -> None:
        """Spooled lines InfluxDB refused on replay: their messages were acknowledged when
        spooled, so the lines themselves become the dead letters (topic ``spool``)."""
        now = self._now()
        letters = [
            refused_letter("spool", line.encode("utf-8"), why, now) for line, why in rejected
        ]
        self.metrics.dead_letters_dropped.inc(
            await asyncio.to_thread(self.dead_letters.append, letters)
        )


@dataclass(frozen=True, slots=True)
class _Taken:
    """A transformed batch and the source that must acknowledge it once it is durable."""

    source: Source
    prepared: Prepared


def _transport(s: Settings, now: Callable[[], int]) -> MqttSource | NativeMqttSource:
    """The MQTT source the settings choose, with room for the batches in flight."""
    in_flight = max(_in_flight(s), s.mqtt.receive_maximum)
    source = NativeMqttSource if s.mqtt.client is MqttClient.NATIVE else MqttSource
    return source(s.mqtt, [src.topic for src in s.sources], max_in_flight=in_flight, now=now)


def _in_flight(s: Settings) -> int:
    """Messages a source may hold unacknowledged: room for the batches in the pipeline."""
    return s.influxdb.batch_size * (_QUEUE_DEPTH + 2)
