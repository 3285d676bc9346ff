"""The backfill source: uplinks a QoS 0 path lost during a gap, from TTS's Storage Integration.

A gap opens when the live MQTT source stops being subscribed (a broker or network outage; at
start the gap reaches back to the saved checkpoint) and closes when it is subscribed again. The
gap, widened by ``backfill.overlap`` on both sides and clipped to ``backfill.max_gap``, is then
fetched page by page (``ingest.backfill.StorageClient``) and delivered on the synthetic topic
``$backfill/tts``, routed to the TTS envelope: the same pipeline, deduplication and
acknowledgement as live uplinks. The overlap is deduplicated.

The checkpoint (``<state_dir>/backfill-tts.json``) is the service time up to which uplinks are
known complete: now while subscribed, the start of the oldest gap not yet fully acknowledged
otherwise. It is saved every ``backfill.checkpoint_interval`` seconds, so a crash or stop during a
gap is recovered at the next start. Without a live source (``city-ingest backfill``) the source
fetches the gaps it is given and sets ``idle`` when all are durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

import aiohttp

from ingest.backfill import StorageClient
from ingest.errors import BackfillError
from ingest.model import Message, Network
from ingest.settings import SourceSettings
from ingest.settings.integrations import BackfillSettings
from ingest.sources.inbox import Inbox
from simulators.identifiers import rfc3339

__all__ = ["BACKFILL_TOPIC", "BackfillSource", "Gap", "backfill_routes"]

log = logging.getLogger(__name__)
BACKFILL_TOPIC: Final = "$backfill/tts"
_POLL_S: Final = 0.5
_RETRY_MAX_S: Final = 60.0


def backfill_routes(settings: BackfillSettings) -> list[SourceSettings]:
    """The route of ``$backfill/tts`` to the TTS envelope when the backfill is configured."""
    if settings.url is None:
        return []
    return [SourceSettings(network=Network.TTS, topic=BACKFILL_TOPIC)]


@dataclass(frozen=True, slots=True)
class Gap:
    """Service times (ns) between which stored uplinks are fetched."""

    after_ns: int
    before_ns: int


class BackfillSource(Inbox):
    """Fetches gaps from the Storage Integration into the pipeline; an async context manager."""

    def __init__(
        self,
        settings: BackfillSettings,
        *,
        max_in_flight: int,
        connected: Callable[[], bool] | None = None,
        checkpoint: Path | None = None,
        now: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(now)
        self._settings = settings
        self._live_up = connected
        self._checkpoint = checkpoint
        self._max_in_flight = max_in_flight
        self._gaps: asyncio.Queue[Gap] = asyncio.Queue()
        self._open: list[Gap] = []  # queued or fetching, not yet all acknowledged
        self.down_since: int | None = None
        self._delivered = self._acked = 0
        self._progress = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        self.fetched = 0  # stored uplinks delivered
        self.gaps_done = 0
        self.failed = 0  # gaps abandoned after a refusal

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._fetch_loop(), name="backfill-fetch")]
        if self._live_up is not None:
            self.down_since = self._saved_checkpoint() or self._now()
            self._tasks.append(asyncio.create_task(self._watch_loop(), name="backfill-watch"))
        self._subscribed()
        return self

    async def _disconnect(self) -> None:
        self._save_checkpoint()
        if self._session is not None:
            await self._session.close()

    def add_gap(self, after_ns: int, before_ns: int) -> None:
        """Fetch the uplinks stored between these service times (as given: no overlap added)."""
        gap = Gap(after_ns, before_ns)
        self._open.append(gap)
        self.idle.clear()
        self._gaps.put_nowait(gap)

    def ack(self, messages: Sequence[Message]) -> None:
        self._held -= len(messages)
        self._acked += len(messages)
        self._progress.set()

    def pause(self) -> None:
        """Fetch no more pages (shutdown); the checkpoint keeps unfinished gaps for later."""
        self._max_in_flight = 0

    # -- gaps ----------------------------------------------------------------------------------
    async def _watch_loop(self) -> None:
        """Open a gap when the live source drops, fetch it when it is back; save the checkpoint."""
        assert self._live_up is not None  # noqa: S101 - only started with a live source
        overlap = int(self._settings.overlap * 1e9)
        saved_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            now = self._now()
            if self._live_up():
                if self.down_since is not None:
                    self.add_gap(self._clipped(self.down_since - overlap), now + overlap)
                    self.down_since = None
            elif self.down_since is None:
                self.down_since = now
            if loop.time() - saved_at >= self._settings.checkpoint_interval:
                self._save_checkpoint()
                saved_at = loop.time()
            await asyncio.sleep(_POLL_S)

    def _clipped(self, after_ns: int) -> int:
        """``after_ns``, or ``backfill.max_gap`` ago if that is later (with a warning)."""
        oldest = self._now() - int(self._settings.max_gap * 1e9)
        if after_ns < oldest:
            log.warning(
                "backfill: gap from %s is longer than backfill.max_gap; fetching from %s",
                rfc3339(after_ns),
                rfc3339(oldest),
            )
        return max(after_ns, oldest)

    async def _fetch_loop(self) -> None:
        while True:
            gap = await self._gaps.get()
            await self._fetch_with_retries(gap)
            await self._wait(lambda: self._acked >= self._delivered)
            self._open.remove(gap)
            self.gaps_done += 1
            self._save_checkpoint()
            if not self._open:
                self.idle.set()

    async def _fetch_with_retries(self, gap: Gap) -> None:
        delay = 1.0
        while True:
            try:
                await self._fetch(gap)
            except BackfillError as exc:
                if not exc.retry:
                    self.failed += 1
                    log.error(  # noqa: TRY400 - a refusal, not a bug: no traceback
                        "backfill of %s … %s abandoned: %s; run `city-ingest backfill` for it",
                        rfc3339(gap.after_ns),
                        rfc3339(gap.before_ns),
                        exc,
                    )
                    return
                self.last_error = str(exc)
                log.warning("backfill: %s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            return

    async def _fetch(self, gap: Gap) -> None:
        assert self._session is not None  # noqa: S101 - set in __aenter__
        client = StorageClient(self._settings, self._session)
        count = 0
        async for page in client.pages(gap.after_ns, gap.before_ns):
            await self._wait(lambda: self.in_flight < self._max_in_flight)
            now = self._now()
            self._pending.extend(Message(BACKFILL_TOPIC, u.body, now) for u in page)
            self._delivered += len(page)
            self._arrived(len(page), now)
            count += len(page)
        self.fetched += count
        log.info(
            "backfill: %d stored uplinks from %s to %s",
            count,
            rfc3339(gap.after_ns),
            rfc3339(gap.before_ns),
        )

    async def _wait(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._progress.clear()
            await self._progress.wait()

    # -- checkpoint ----------------------------------------------------------------------------
    def _covered_until(self) -> int:
        if self._open:
            return min(gap.after_ns for gap in self._open)
        return self.down_since if self.down_since is not None else self._now()

    def _save_checkpoint(self) -> None:
        if self._checkpoint is None:
            return
        self._checkpoint.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._checkpoint.with_suffix(".tmp")
        temporary.write_text(json.dumps({"covered_until_ns": self._covered_until()}))
        temporary.replace(self._checkpoint)

    def _saved_checkpoint(self) -> int | None:
        if self._checkpoint is None or not self._checkpoint.exists():
            return None
        try:
            return int(json.loads(self._checkpoint.read_text())["covered_until_ns"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("backfill: ignoring unreadable %s (%s)", self._checkpoint, exc)
            return None
