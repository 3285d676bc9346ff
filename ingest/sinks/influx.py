"""The InfluxDB sink: line protocol over HTTP, v1 (``/write``) or v2 (``/api/v2/write``).

``api = "auto"`` asks ``/ping`` and reads the ``X-Influxdb-Version`` header (1.x → v1, 2.x → v2).
A write is retried with capped exponential back-off while the database is unreachable, times out
or answers 5xx/429 (``SinkUnavailable``). A 400/422 means the database refused points: the batch
is split in halves until the refused lines are isolated; they are returned as rejected (to be
dead-lettered as ``rejected_by_db``) and every other line is written. 401/403/404 are
configuration problems (credentials, database or bucket): retried with a loud log, never
dead-lettered, since no point is at fault. Raw points and aggregates go to their own retention
policy or bucket (``ingest.sinks.retention``), set up on first contact when the service manages
retention.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Self

import aiohttp

from ingest.errors import ConfigError, SinkRefused, SinkRejected, SinkUnavailable
from ingest.settings import InfluxApi, InfluxSettings, RetentionManagement
from ingest.sinks.retention import Target, apply_retention, target_of

__all__ = ["InfluxSink", "SinkState", "WriteResult", "detect_api"]

log = logging.getLogger(__name__)
_CONFIG_STATUSES = {401, 403, 404}
_REJECT_STATUSES = {400, 413, 422}  # 413: too large a body; splitting finds what fits


class SinkState(Enum):
    CLOSED = "closed"
    READY = "ready"
    FAILING = "failing"  # unreachable or 5xx: heals by itself
    REFUSED = "refused"  # credentials, database or bucket refused: needs an operator


@dataclass(slots=True)
class WriteResult:
    """What happened to the lines of one ``write``: indices refused by the database, with why."""

    rejected: list[tuple[int, str]] = field(default_factory=list)
    retries: int = 0


class InfluxSink:
    """Writes line-protocol lines to InfluxDB; an async context manager."""

    def __init__(
        self, settings: InfluxSettings, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._api: InfluxApi | None = None if settings.api is InfluxApi.AUTO else settings.api
        self._prepared = settings.retention.manage is RetentionManagement.OFF
        self.state = SinkState.CLOSED
        self.last_error = ""

    async def __aenter__(self) -> Self:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=True)
        self.state = SinkState.READY
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
        self.state = SinkState.CLOSED

    @property
    def api(self) -> InfluxApi | None:
        return self._api

    async def prepare(self) -> None:
        """Learn the API version and set up retention (once); ``ConfigError`` if refused,
        ``SinkUnavailable`` while InfluxDB cannot be reached (then the first write does it)."""
        if self._api is None:
            self._api = await detect_api(self._http(), self._settings.url)
        if not self._prepared:
            await apply_retention(self._http(), self._settings, v2=self._api is InfluxApi.V2)
            self._prepared = True

    async def write(self, lines: Sequence[str], give_up_after: float | None = None) -> WriteResult:
        """Write every line, retrying while the database is unavailable; see the module doc.

        With ``give_up_after`` (seconds), ``SinkUnavailable`` is raised once retrying would go
        on longer than that; some of the lines may have been written (rewriting is harmless).
        """
        result = WriteResult()
        deadline = (
            None if give_up_after is None else asyncio.get_running_loop().time() + give_up_after
        )
        for target, indices in _by_target(lines).items():
            size = self._settings.batch_size
            for start in range(0, len(indices), size):
                chunk = indices[start : start + size]
                await self._write_chunk(lines, chunk, target, result, deadline)
        return result

    async def _write_chunk(
        self,
        lines: Sequence[str],
        indices: Sequence[int],
        target: Target,
        result: WriteResult,
        deadline: float | None,
    ) -> None:
        try:
            await self._post_with_retry([lines[i] for i in indices], target, result, deadline)
        except SinkRejected as exc:
            if len(indices) == 1:
                result.rejected.append((indices[0], exc.body))
                return
            middle = len(indices) // 2
            await self._write_chunk(lines, indices[:middle], target, result, deadline)
            await self._write_chunk(lines, indices[middle:], target, result, deadline)

    async def _post_with_retry(
        self, lines: Sequence[str], target: Target, result: WriteResult, deadline: float | None
    ) -> None:
        delay = self._settings.retry_min_delay
        while True:
            try:
                await self._post(lines, target)
            except SinkUnavailable as exc:
                self.state = (
                    SinkState.REFUSED if isinstance(exc, SinkRefused) else SinkState.FAILING
                )
                if str(exc) != self.last_error:
                    log.warning("InfluxDB write failed, retrying with back-off: %s", exc)
                self.last_error = str(exc)
                if deadline is not None and asyncio.get_running_loop().time() + delay > deadline:
                    raise
                result.retries += 1
                await self._sleep(delay)
                delay = min(delay * 2, self._settings.retry_max_delay)
            else:
                if self.state is SinkState.FAILING:
                    log.info("InfluxDB writes succeed again")
                self.state = SinkState.READY
                self.last_error = ""
                return

    async def _post(self, lines: Sequence[str], target: Target) -> None:
        try:
            await self.prepare()
        except ConfigError as exc:  # refused while running: loud, retried like bad credentials
            raise SinkRefused(str(exc)) from exc
        body = "\n".join(lines).encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._settings.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        url, params = self._endpoint(target)
        headers |= self._settings.auth_headers()
        try:
            async with self._http().post(
                url, params=params, data=body, headers=headers
            ) as response:
                status = response.status
                text = "" if status < 300 else (await response.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc
        _raise_for_status(status, text, url)

    def _endpoint(self, target: Target) -> tuple[str, dict[str, str]]:
        s, aggregates = self._settings, target is Target.AGGREGATES
        if self._api is InfluxApi.V2:
            bucket = s.retention.aggregate_bucket if aggregates else s.bucket
            params = {"bucket": bucket, "precision": "ns"}
            if s.org:
                params["org"] = s.org
            return f"{s.url}/api/v2/write", params
        policy = s.retention.aggregate_policy if aggregates else s.retention.raw_policy
        return f"{s.url}/write", {"db": s.database, "rp": policy}  # v1 defaults to ns

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            msg = "InfluxSink used outside 'async with'"
            raise RuntimeError(msg)
        return self._session


async def detect_api(session: aiohttp.ClientSession, url: str) -> InfluxApi:
    """v1 or v2, from the ``X-Influxdb-Version`` header of ``/ping``."""
    try:
        async with session.get(f"{url}/ping") as response:
            version = response.headers.get("X-Influxdb-Version", "")
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SinkUnavailable(f"{url}/ping: {type(exc).__name__}: {exc}") from exc
    if status >= 500:
        raise SinkUnavailable(f"{url}/ping answered HTTP {status}")
    api = InfluxApi.V2 if version.lstrip("v").startswith("2") else InfluxApi.V1
    log.info(
        "InfluxDB at %s reports version %r: using the %s write API",
        url,
        version or "unknown",
        api.value,
    )
    return api


def _by_target(lines: Sequence[str]) -> dict[Target, list[int]]:
    """Line indices per destination, in order."""
    groups: dict[Target, list[int]] = {}
    for index, line in enumerate(lines):
        groups.setdefault(target_of(line), []).append(index)
    return groups


def _raise_for_status(status: int, text: str, url: str) -> None:
    if status < 300:
        return
    if status in _REJECT_STATUSES:
        raise SinkRejected(status, text)
    if status in _CONFIG_STATUSES:
        raise SinkRefused(
            f"{url} answered HTTP {status} ({text.strip()}): check influxdb.username/password "
            "or token, and that the database/bucket exists"
        )
    raise SinkUnavailable(f"{url} answered HTTP {status}: {text.strip()}")
