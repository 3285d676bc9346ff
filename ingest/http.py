"""The service's HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import TYPE_CHECKING, Self

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest.sinks.influx import SinkState
from ingest.sources.inbox import SourceState
from ingest.statuspage import add_status_page

if TYPE_CHECKING:
    from ingest.pipeline import Pipeline

__all__ = ["HttpServer"]


class HttpServer:
    """Serves the endpoints for one pipeline; an async context manager."""

    def __init__(self, listen: str, pipeline: Pipeline) -> None:
        host, _, port = listen.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._pipeline = pipeline
        self._runner: web.AppRunner | None = None
        self.port = self._port

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/api/status", self._status)
        add_status_page(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        if isinstance(server, asyncio.Server) and self._port == 0:
            self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._pipeline.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _status(self, request: web.Request) -> web.Response:
        """Pipeline counters, connections, devices and latest dead letters, as JSON."""
        pipeline = self._pipeline
        totals = pipeline.totals
        body = {
            "time_ns": pipeline.now(),
            "received": totals.received,
            "outcomes": {o.value: n for o, n in totals.outcomes.items()},
            "dead_letter_reasons": {r.value: n for r, n in totals.reasons.items()},
            "mqtt": {"state": pipeline.source.state.value, "error": pipeline.source.last_error},
            "influxdb": {"state": pipeline.sink.state.value, "error": pipeline.sink.last_error},
            "spool": {
                "batches": pipeline.storage.spool.records,
                "bytes": pipeline.storage.spool.bytes,
                "full": pipeline.storage.full,
            },
            **pipeline.status.snapshot(pipeline.now()),
        }
        return web.json_response(body)

    async def _readyz(self, request: web.Request) -> web.Response:
        """Ready: subscribed, InfluxDB accepts our credentials, and it takes writes or the spool
        has room for them. An outage is a note (it heals; batches spool); a refusal (HTTP
        401/403/404: credentials, database, bucket) is a problem only an operator can fix."""
        problems, notes = [], []
        source = self._pipeline.source
        if source.state is not SourceState.SUBSCRIBED:
            problems.append(f"mqtt: {source.state.value} {source.last_error}".strip())
        if self._pipeline.stalled:
            notes.append(f"mqtt: nothing received for {source.quiet_for():.0f} s")
        storage = self._pipeline.storage
        spool = storage.spool
        oldest = (self._pipeline.now() - spool.oldest_ns) / 1e9 if spool.oldest_ns else 0.0
        if storage.sink.state is SinkState.REFUSED:
            problems.append(f"influxdb: {storage.sink.last_error}")
        if storage.full:
            problems.append(
                f"spool full ({spool.bytes} bytes, oldest {oldest:.0f} s): not acknowledging"
            )
        elif storage.sink.state is not SinkState.READY or not storage.spool.empty:
            notes.append(
                f"influxdb: {storage.sink.last_error or 'catching up'}; "
                f"spooling ({spool.records} batches, oldest {oldest:.0f} s)"
            )
        body = json.dumps({"ready": not problems, "problems": problems, "notes": notes})
        return web.Response(
            text=body + "\n",
            status=503 if problems else 200,
            content_type="application/json",
        )
