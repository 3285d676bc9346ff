"""Durable storage of points: InfluxDB, with the disk spool behind it.

``store`` returns once the lines are durable: written to InfluxDB (HTTP 2xx), or appended and
fsynced to the spool after writes kept failing for ``spool.after`` seconds. While the spool holds
anything, new batches join its end, so points reach InfluxDB in the order they were stored (a
re-emitted aggregate never gets overwritten by its older value). A background task replays the
spool oldest first once InfluxDB answers. When the spool is full, ``store`` waits: the caller
does not acknowledge, the broker keeps the messages, and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

from ingest.errors import SinkUnavailable
from ingest.sinks.influx import InfluxSink, WriteResult
from ingest.sinks.spool import Spool, SpoolFull

__all__ = ["Storage"]

log = logging.getLogger(__name__)

RejectedLines = Callable[[list[tuple[str, str]]], Awaitable[None]]


class Storage:
    """Write-or-spool, plus the replay of the spool; an async context manager."""

    def __init__(
        self,
        sink: InfluxSink,
        spool: Spool,
        *,
        spool_after: float,
        on_rejected: RejectedLines,
        now: Callable[[], int],
    ) -> None:
        self.sink = sink
        self.spool = spool
        self._spool_after = spool_after
        self._on_rejected = on_rejected
        self._now = now
        self._pending = asyncio.Event()  # the spool has something to replay
        self._drained = asyncio.Event()  # the replay freed room
        self._replayer: asyncio.Task[None] | None = None
        self.full = False

    async def __aenter__(self) -> Self:
        self.spool.open()
        if not self.spool.empty:
            self._pending.set()
        self._replayer = asyncio.create_task(self._replay_loop(), name="spool-replay")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            await asyncio.gather(self._replayer, return_exceptions=True)
        if not self.spool.empty:
            log.warning(
                "stopping with %d batches in the spool; they are replayed after the next start",
                self.spool.records,
            )

    async def store(self, lines: Sequence[str]) -> WriteResult:
        """Make ``lines`` durable; the result lists lines InfluxDB refused (direct writes)."""
        if not lines:
            return WriteResult()
        if self.spool.empty:
            try:
                return await self.sink.write(lines, give_up_after=self._spool_after)
            except SinkUnavailable as exc:
                log.warning(
                    "InfluxDB unavailable for %.1f s (%s): spooling to disk", self._spool_after, exc
                )
        await self._append(lines)
        return WriteResult()

    async def _append(self, lines: Sequence[str]) -> None:
        while not self._try_append(lines):
            if not self.full:
                log.error(
                    "spool full (%d bytes in %d batches): not acknowledging until "
                    "InfluxDB takes the backlog; the broker keeps the messages",
                    self.spool.bytes,
                    self.spool.records,
                )
            self.full = True
            self._drained.clear()
            await self._drained.wait()
        self._pending.set()

    def _try_append(self, lines: Sequence[str]) -> bool:
        try:
            self.spool.append(lines, self._now())
        except SpoolFull:
            return False
        return True

    async def _replay_loop(self) -> None:
        while True:
            record = self.spool.peek()
            if record is None:
                self._pending.clear()
                await self._pending.wait()
                continue
            result = await self.sink.write(record.lines)  # retries until InfluxDB answers
            if result.rejected:
                await self._on_rejected([(record.lines[i], why) for i, why in result.rejected])
            self.spool.pop()
            if self.full:
                log.info("spool has room again")
            self.full = False
            self._drained.set()
            if self.spool.empty:
                log.info("spool drained: writing directly to InfluxDB again")
