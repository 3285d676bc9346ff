"""The sources beside the MQTT subscription, built from ``[webhooks]`` and ``[backfill]``.

``integration_sources`` gives the webhook source (when ``webhooks.listen`` and networks are set)
and the backfill source (when ``backfill.url`` is set, watching the live MQTT source for gaps);
``integration_routes`` the synthetic topics they publish on, for the transformer's routing;
``qos0_warnings`` what ``check-config`` says about sources that can lose uplinks;
``register_metrics`` their counters on ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from ingest.model import Network
from ingest.settings import Settings, SourceSettings
from ingest.sinks.storage import Storage
from ingest.sources.backfill import BackfillSource, backfill_routes
from ingest.sources.base import Source
from ingest.sources.inbox import SourceState
from ingest.sources.webhook import WebhookSource, webhook_routes

__all__ = [
    "BACKFILL_CHECKPOINT",
    "integration_routes",
    "integration_sources",
    "qos0_warnings",
    "register_metrics",
]

BACKFILL_CHECKPOINT = "backfill-tts.json"


def integration_routes(settings: Settings) -> list[SourceSettings]:
    return [*webhook_routes(settings.webhooks), *backfill_routes(settings.backfill)]


def integration_sources(
    settings: Settings,
    *,
    live: Source,
    storage: Storage,
    max_in_flight: int,
    now: Callable[[], int],
) -> list[Source]:
    sources: list[Source] = []
    if settings.webhooks.listen is not None and settings.webhooks.networks:
        sources.append(WebhookSource(settings.webhooks, refusing=lambda: storage.full, now=now))
    if settings.backfill.url is not None:
        backfill = BackfillSource(
            settings.backfill,
            max_in_flight=max_in_flight,
            connected=lambda: live.state is SourceState.SUBSCRIBED,
            checkpoint=settings.processors.state_dir / BACKFILL_CHECKPOINT,
            now=now,
        )
        sources.append(backfill)
    return sources


# The Things Stack's own MQTT server publishes at QoS 0 only (TTS docs, "MQTT Server").
_TTS_HOSTS = ("thethings.network", "thethings.industries", "thethingsindustries.com")
_FIXES = {
    Network.TTS: "configure [backfill] (Storage Integration) or use a Pub/Sub integration "
    "publishing at QoS 1 into your broker",
    Network.CHIRPSTACK: "set qos = 1 in ChirpStack's [integration.mqtt] and upstream_qos = 1",
    Network.KPN: "use the KPN Things MQTT destination to your broker or the HTTPS destination",
}


def qos0_warnings(settings: Settings) -> list[str]:
    """One warning per source that can only deliver at QoS 0 and has no backfill."""
    warnings = []
    tts_server = settings.mqtt.host.lower().endswith(_TTS_HOSTS)
    for i, source in enumerate(settings.sources):
        at_most_once = source.upstream_qos == 0 or (source.network is Network.TTS and tts_server)
        backfilled = source.network is Network.TTS and settings.backfill.url is not None
        if at_most_once and not backfilled:
            warnings.append(
                f"config key `sources[{i}]`: {source.network.value} delivers at QoS 0 only "
                f"(uplinks published while anything is disconnected are lost); "
                f"{_FIXES[source.network]} (docs/networks/{source.network.value}.md)"
            )
    return warnings


def register_metrics(registry: CollectorRegistry, sources: Sequence[Source]) -> None:
    """``city_ingest_webhook_answers_total{network,status}`` and the backfill counters."""
    registry.register(_IntegrationCollector(sources))


class _IntegrationCollector(Collector):
    def __init__(self, sources: Sequence[Source]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[CounterMetricFamily]:
        answers = CounterMetricFamily(
            "city_ingest_webhook_answers",
            "Webhook requests by answer",
            labels=["network", "status"],
        )
        fetched = CounterMetricFamily(
            "city_ingest_backfill_fetched", "Stored uplinks fetched by the backfill"
        )
        gaps = CounterMetricFamily(
            "city_ingest_backfill_gaps", "Backfill gaps by result", labels=["result"]
        )
        for source in self._sources:
            if isinstance(source, WebhookSource):
                for (network, status), count in sorted(source.answers.items()):
                    answers.add_metric([network.value, str(status)], count)
            if isinstance(source, BackfillSource):
                fetched.add_metric([], source.fetched)
                gaps.add_metric(["done"], source.gaps_done - source.failed)
                gaps.add_metric(["abandoned"], source.failed)
        yield from (answers, fetched, gaps)
