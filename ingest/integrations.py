"""The sources beside the MQTT subscription, built from ``[webhooks]`` and ``[backfill]``.

``integration_sources`` gives the webhook source (when ``webhooks.listen`` and networks are set)
and the backfill source (when ``backfill.url`` is set, watching the live MQTT source for gaps);
``integration_routes`` the synthetic topics they publish on, for the transformer's routing;
``qos0_warnings`` what ``check-config`` says about sources that can lose uplinks.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.model import Network
from ingest.settings import Settings, SourceSettings
from ingest.sinks.storage import Storage
from ingest.sources.backfill import BackfillSource, backfill_routes
from ingest.sources.base import Source
from ingest.sources.inbox import SourceState
from ingest.sources.webhook import WebhookSource, webhook_routes

__all__ = ["BACKFILL_CHECKPOINT", "integration_routes", "integration_sources", "qos0_warnings"]

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
