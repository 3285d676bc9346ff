"""The webhook source: network servers POST uplinks; each is answered once it is durable.

One aiohttp site on ``webhooks.listen`` (its own port, optionally HTTPS) with one endpoint per
enabled network: ``POST /tts/up`` (The Things Stack webhook, base URL ``…/tts`` and uplink path
``/up``), ``POST /chirpstack`` (ChirpStack HTTP integration; events other than ``up`` are
answered 204 and dropped), ``POST /kpn`` (KPN Things HTTPS destination, one SenML pack).

Each request body becomes one ``Message`` on the synthetic topic ``$webhook/<network>`` (routed
to its envelope by ``webhook_routes``; ``$`` topics match no MQTT wildcard filter), with a token
of its own. The request waits until the pipeline acknowledges that token, i.e. its readings are
written, spooled or dead-lettered, and is then answered 200. A full spool, too many waiting
requests, a stop or ``max_wait`` without durability answer 503 with Retry-After; the network
server's retry of a message that did become durable is a duplicate and deduplicated. Requests
that can never succeed get 4xx: 401 without and 403 with a wrong credential, 413 above
``max_body_bytes``, 415 for a body that is not JSON (ChirpStack set to Protobuf encoding).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Self

from aiohttp import web

from ingest.errors import ConfigError
from ingest.model import Message, Network
from ingest.settings import SourceSettings
from ingest.settings.integrations import WebhookSettings
from ingest.sources.inbox import Inbox
from ingest.sources.webhook_auth import Verdict, verify

__all__ = ["PATHS", "WebhookSource", "webhook_routes", "webhook_topic"]

log = logging.getLogger(__name__)

PATHS = {Network.TTS: "/tts/up", Network.CHIRPSTACK: "/chirpstack", Network.KPN: "/kpn"}
_JSON_TYPES = frozenset({"application/json", "application/senml+json"})
# Every message is a client waiting for its answer: a batch waits at most this long for more
# (``influxdb.flush_interval`` suits MQTT, where nobody waits for the acknowledgement).
_BATCH_WAIT_S = 0.02


def webhook_topic(network: Network) -> str:
    return f"$webhook/{network.value}"


def webhook_routes(settings: WebhookSettings) -> list[SourceSettings]:
    """Routes from the synthetic topics to their networks, for the transformer."""
    return [SourceSettings(network=n, topic=webhook_topic(n)) for n in settings.networks]


class _Stopped(Exception):
    """The service stopped before the request's message was durable."""


class WebhookSource(Inbox):
    """Receives uplinks over HTTP; an async context manager serving ``webhooks.listen``."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        refusing: Callable[[], bool],
        now: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(now)
        assert settings.listen is not None  # noqa: S101 - the pipeline builds it only when set
        host, _, port = settings.listen.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._settings = settings
        self._refusing = refusing  # e.g. the spool is full
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._last_token = 0
        self._accepting = False
        self._runner: web.AppRunner | None = None
        self.port = self._port
        self.answers: Counter[tuple[Network, int]] = Counter()

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=self._settings.max_body_bytes)
        for network in self._settings.networks:
            app.router.add_post(PATHS[network], functools.partial(self._handle, network))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._tls())
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        if isinstance(server, asyncio.Server) and self._port == 0:
            self.port = server.sockets[0].getsockname()[1]
        self._accepting = True
        self._subscribed()
        log.info("webhooks listening on port %d for %s", self.port, self._settings.networks)
        return self

    async def _disconnect(self) -> None:
        self._accepting = False
        for waiting in self._waiting.values():  # each has a request awaiting it
            if not waiting.done():
                waiting.set_exception(_Stopped())
        if self._runner is not None:
            await self._runner.cleanup()

    async def next_batch(self, max_messages: int, max_wait: float) -> list[Message]:
        return await super().next_batch(max_messages, min(max_wait, _BATCH_WAIT_S))

    def ack(self, messages: Sequence[Message]) -> None:
        """Durable: answer the requests that carried these messages."""
        self._held -= len(messages)
        for message in messages:
            waiting = self._waiting.pop(message.token, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    def pause(self) -> None:
        """Answer new requests 503; those already taken are answered once durable."""
        self._accepting = False

    async def _handle(self, network: Network, request: web.Request) -> web.StreamResponse:
        """Answer one request; the answers are counted by network and status."""
        response = await self._answer(network, request)
        self.answers[(network, response.status)] += 1
        return response

    async def _answer(self, network: Network, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = self._settings.max_body_bytes
            return web.Response(status=413, text=f"body over webhooks.max_body_bytes ({limit})\n")
        verdict = verify(network, self._settings, request.headers, body)
        if verdict is not Verdict.OK:
            return self._refuse(network, verdict)
        if request.content_type not in _JSON_TYPES:
            return web.Response(
                status=415, text=f"expected a JSON body, got {request.content_type}\n"
            )
        if network is Network.CHIRPSTACK and request.query.get("event", "up") != "up":
            return web.Response(status=204)  # join, status, log, ack events: not uplinks
        crowded = self.in_flight >= self._settings.max_pending
        if not self._accepting or self._refusing() or crowded:
            return self._busy()
        return await self._take(network, body)

    async def _take(self, network: Network, body: bytes) -> web.StreamResponse:
        self._last_token += 1
        token = self._last_token
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[token] = done
        self._deliver(Message(webhook_topic(network), body, self._now(), token))
        try:
            await asyncio.wait_for(asyncio.shield(done), self._settings.max_wait)
        except (TimeoutError, _Stopped):
            self._waiting.pop(token, None)  # the message stays in the pipeline; nobody waits
            return self._busy()
        return web.json_response({"accepted": 1})

    def _refuse(self, network: Network, verdict: Verdict) -> web.Response:
        log.warning("webhook %s: %s credential, refused", network.value, verdict.value)
        if verdict is Verdict.WRONG:
            return web.Response(status=403, text="wrong credential\n")
        challenge = {} if network is Network.KPN else {"WWW-Authenticate": 'Basic realm="city"'}
        return web.Response(status=401, text="credential missing\n", headers=challenge)

    def _busy(self) -> web.Response:
        return web.Response(
            status=503,
            text="cannot take uplinks now (spool full, overloaded or stopping); retry later\n",
            headers={"Retry-After": str(self._settings.retry_after)},
        )

    def _tls(self) -> ssl.SSLContext | None:
        cert, key = self._settings.tls_cert, self._settings.tls_key
        if cert is None or key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "webhooks.tls_cert", f"cannot load {cert} with {key} ({exc})", "point both at PEM"
            ) from exc
        return context
