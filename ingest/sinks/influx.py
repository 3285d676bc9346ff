"""The InfluxDB sink: line protocol over HTTP, v1 (``/write``) or v2 (``/api/v2/write``).

``api = "auto"`` asks ``/ping`` and reads the ``X-Influxdb-Version`` header (1.x → v1, 2.x → v2).
A write is retried with capped exponential back-off while the database is unreachable, times out
or answers 5xx/429 (``SinkUnavailable``). A 400/422 means the database refused points: the batch
is split in halves until the refused lines are isolated; they are returned as rejected (to be
dead-lettered as ``rejected_by_db``) and every other line is written. 401/403/404 are
configuration problems (credentials, database or bucket): retried with a loud log, never
dead-lettered, since no point is at fault.
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

from ingest.errors import SinkRejected, SinkUnavailable
from ingest.settings import InfluxApi, InfluxSettings

__all__ = ["InfluxSink", "SinkState", "WriteResult", "detect_api"]

log = logging.getLogger(__name__)
_CONFIG_STATUSES = {401, 403, 404}
_REJECT_STATUSES = {400, 413, 422}  # 413: too large a body; splitting finds what fits


class SinkState(Enum):
    CLOSED = "closed"
    READY = "ready"
    FAILING = "failing"


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

    async def write(self, lines: Sequence[str], give_up_after: float | None = None) -> WriteResult:
        """Write every line, retrying while the database is unavailable; see the module doc.

        With ``give_up_after`` (seconds), ``SinkUnavailable`` is raised once retrying would go
        on longer than that; some of the lines may have been written (rewriting is harmless).
        """
        result = WriteResult()
        deadline = (
            None if give_up_after is None else asyncio.get_running_loop().time() + give_up_after
        )
        size = self._settings.batch_size
        for start in range(0, len(lines), size):
            await self._write_chunk(lines, start, min(start + size, len(lines)), result, deadline)
        return result

    async def _write_chunk(
        self,
        lines: Sequence[str],
        start: int,
        end: int,
        result: WriteResult,
        deadline: float | None,
    ) -> None:
        try:
            await self._post_with_retry(lines[start:end], result, deadline)
        except SinkRejected as exc:
            if end - start == 1:
                result.rejected.append((start, exc.body))
                return
            middle = (start + end) // 2
            await self._write_chunk(lines, start, middle, result, deadline)
            await self._write_chunk(lines, middle, end, result, deadline)

    async def _post_with_retry(
        self, lines: Sequence[str], result: WriteResult, deadline: float | None
    ) -> None:
        delay = self._settings.retry_min_delay
        while True:
            try:
                await self._post(lines)
            except SinkUnavailable as exc:
                self.state = SinkState.FAILING
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

    async def _post(self, lines: Sequence[str]) -> None:
        if self._api is None:
            self._api = await detect_api(self._http(), self._settings.url)
        body = "\n".join(lines).encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._settings.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        url, params, auth = self._endpoint(headers)
        try:
            async with self._http().post(
                url, params=params, data=body, headers=headers, auth=auth
            ) as response:
                status = response.status
                text = "" if status < 300 else (await response.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc
        _raise_for_status(status, text, url)

    def _endpoint(
        self, headers: dict[str, str]
    ) -> tuple[str, dict[str, str], aiohttp.BasicAuth | None]:
        s = self._settings
        if self._api is InfluxApi.V2:
            if s.token is not None:
                headers["Authorization"] = f"Token {s.token.get_secret_value()}"
            params = {"bucket": s.bucket, "precision": "ns"}
            if s.org:
                params["org"] = s.org
            return f"{s.url}/api/v2/write", params, None
        params = {"db": s.database}  # v1 timestamps default to nanoseconds
        if s.retention_policy:
            params["rp"] = s.retention_policy
        auth = None
        if s.username is not None and s.password is not None:
            auth = aiohttp.BasicAuth(s.username, s.password.get_secret_value())
        return f"{s.url}/write", params, auth

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


def _raise_for_status(status: int, text: str, url: str) -> None:
    if status < 300:
        return
    if status in _REJECT_STATUSES:
        raise SinkRejected(status, text)
    if status in _CONFIG_STATUSES:
        raise SinkUnavailable(
            f"{url} answered HTTP {status} ({text.strip()}): check influxdb.username/password "
            "or token, and that the database/bucket exists"
        )
    raise SinkUnavailable(f"{url} answered HTTP {status}: {text.strip()}")
