"""``city-ingest backfill --network tts --since T [--until T]``: fetch a time range again.

Runs the pipeline of ``city-ingest run`` with the backfill source as its only source (no MQTT
subscription, no webhooks, the status endpoints on a free port) until every stored uplink of
the range is written, spooled or dead-lettered; deduplication and idempotent points make
repeating a range harmless. It uses the service's spool, dead-letter store and state folder:
stop the service first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ingest.errors import ConfigError
from ingest.metrics import Accounting
from ingest.pipeline import Pipeline
from ingest.plan import plan
from ingest.settings import load_settings
from ingest.settings.integrations import WebhookSettings
from ingest.sources.backfill import BackfillSource
from ingest.timearg import instant_ns

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--network", choices=["tts"], required=True, help="only tts has storage")
    parser.add_argument("--since", type=instant_ns, required=True, help="e.g. 2026-03-14T08:00:00Z")
    parser.add_argument("--until", type=instant_ns, help="default: now")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if settings.backfill.url is None:
        raise ConfigError(
            "backfill.url", "is not set", "configure [backfill] (see docs/networks/tts.md)"
        )
    quiet = {"http": settings.http.model_copy(update={"listen": "127.0.0.1:0"})}
    settings = settings.model_copy(update={**quiet, "webhooks": WebhookSettings()})
    pipeline = Pipeline(plan(settings))
    source = BackfillSource(settings.backfill, max_in_flight=settings.influxdb.batch_size * 4)
    pipeline.sources = [source]
    until = args.until if args.until is not None else pipeline.now()
    source.add_gap(args.since, until)
    totals = asyncio.run(_until_idle(pipeline, source))
    print(f"fetched {source.fetched} stored uplinks; {totals.summary()}", file=sys.stderr)
    return 0 if source.failed == 0 and totals.balanced() else 1


async def _until_idle(pipeline: Pipeline, source: BackfillSource) -> Accounting:
    stop = asyncio.Event()

    async def stop_when_idle() -> None:
        await source.idle.wait()
        stop.set()

    watcher = asyncio.create_task(stop_when_idle())
    try:
        return await pipeline.run(stop)
    finally:
        watcher.cancel()
