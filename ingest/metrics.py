"""Counters of what every stage did, exposed as Prometheus metrics (contract §7).

``city_ingest_uplinks_total{outcome}`` adds up to ``city_ingest_received_total`` once a batch is
finished. A plain ``Accounting`` copy of the totals is kept for the shutdown log and the demo.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ingest.model import Outcome, Reason

__all__ = ["Accounting", "Metrics"]


@dataclass(slots=True)
class Accounting:
    """Totals since start: received, per outcome, per dead-letter reason."""

    received: int = 0
    outcomes: Tally[Outcome] = field(default_factory=Tally)
    reasons: Tally[Reason] = field(default_factory=Tally)

    def balanced(self) -> bool:
        return self.received == sum(self.outcomes.values())

    def summary(self) -> str:
        parts = [f"received={self.received}"]
        parts += [f"{o.value}={self.outcomes[o]}" for o in Outcome]
        parts += [f"{r.value}={n}" for r, n in sorted(self.reasons.items())]
        return " ".join(parts)


class Metrics:
    """One Prometheus registry per service instance (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.totals = Accounting()
        r = self.registry
        self._received = Counter("city_ingest_received", "Uplink messages received", registry=r)
        self._uplinks = Counter(
            "city_ingest_uplinks", "Uplinks by final outcome", ["outcome"], registry=r
        )
        self._dead = Counter(
            "city_ingest_dead_letters", "Dead letters by reason", ["reason"], registry=r
        )
        self._points = Counter(
            "city_ingest_points_written", "Points written to InfluxDB", registry=r
        )
        self.write_retries = Counter(
            "city_ingest_write_retries", "InfluxDB write retries", registry=r
        )
        self.aggregate_points = Counter(
            "city_ingest_aggregate_points_written", "Aggregate and alert points written", registry=r
        )
        self.late_readings = Counter(
            "city_ingest_late_readings",
            "Readings older than the update horizon (reaggregate)",
            registry=r,
        )
        self.dead_letters_dropped = Counter(
            "city_ingest_dead_letters_dropped", "Dead letters dropped: store full", registry=r
        )
        self.batch_size = Histogram(
            "city_ingest_batch_messages",
            "Messages per batch",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.write_seconds = Histogram(
            "city_ingest_write_seconds", "InfluxDB write latency", registry=r
        )
        self.mqtt_connected = Gauge(
            "city_ingest_mqtt_connected", "1 while connected and subscribed", registry=r
        )
        self.spool_batches = Gauge(
            "city_ingest_spool_batches", "Batches waiting in the spool", registry=r
        )
        self.spool_bytes = Gauge(
            "city_ingest_spool_bytes", "Bytes waiting in the spool", registry=r
        )
        self.spool_oldest_age = Gauge(
            "city_ingest_spool_oldest_age_seconds", "Age of the oldest spooled batch", registry=r
        )
        self.spool_full = Gauge(
            "city_ingest_spool_full", "1 while the spool refuses batches", registry=r
        )
        self.stalled = Gauge(
            "city_ingest_stalled",
            "1 while subscribed but nothing arrived for mqtt.stall_after",
            registry=r,
        )
        self.last_message_age = Gauge(
            "city_ingest_last_message_age_seconds",
            "Seconds since the last message, per network",
            ["network"],
            registry=r,
        )
        self.in_flight = Gauge(
            "city_ingest_in_flight", "Messages received, not yet acked", registry=r
        )
        self.redelivered = Gauge(
            "city_ingest_source_redelivered",
            "Messages the source received again after a reader died or did not acknowledge",
            registry=r,
        )
        self.partition_messages = Counter(
            "city_ingest_partition_messages",
            "Messages taken per source partition (JetStream: which replica handles what)",
            ["partition"],
            registry=r,
        )
        for outcome in Outcome:
            self._uplinks.labels(outcome.value)
        for reason in Reason:
            self._dead.labels(reason.value)

    def count(
        self, received: int, outcomes: Tally[Outcome], reasons: Tally[Reason], points: int
    ) -> None:
        """Record one finished batch."""
        self._received.inc(received)
        for outcome, n in outcomes.items():
            self._uplinks.labels(outcome.value).inc(n)
        for reason, n in reasons.items():
            self._dead.labels(reason.value).inc(n)
        self._points.inc(points)
        t = self.totals
        t.received += received
        t.outcomes.update(outcomes)
        t.reasons.update(reasons)
