"""The Things Stack Storage Integration: stored uplinks of a time range, page by page.

HTTP API (TTS documentation, "Storage Integration → Retrieve Messages" and the API reference of
``ApplicationUpStorage.GetStoredApplicationUp``)::

    GET {url}/api/v3/as/applications/{application_id}/packages/storage/uplink_message
        ?after=<RFC 3339>&before=<RFC 3339>&limit=<n>&order=received_at
    Authorization: Bearer <API key with RIGHT_APPLICATION_TRAFFIC_READ>
    Accept: text/event-stream

The answer is newline-delimited JSON, one ``{"result": <ApplicationUp>}`` per line (the same
``ApplicationUp`` as on MQTT and in webhooks), or ``{"error": {...}}`` when the stream fails.
Pages continue from the last ``received_at`` (the Application Server's receive time) minus 1 ns,
so a page boundary never skips an uplink whatever ``after``'s inclusiveness; the repeated
boundary uplink is a duplicate for deduplication.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import msgspec

from ingest.envelopes._parsing import parse_time
from ingest.errors import BackfillError, EnvelopeError
from ingest.settings.integrations import BackfillSettings
from simulators.identifiers import rfc3339

__all__ = ["StorageClient", "StoredUplink"]

log = logging.getLogger(__name__)
_PATH: Final = "/api/v3/as/applications/{app}/packages/storage/uplink_message"
_RETRY_STATUS: Final = frozenset({408, 429})


class _Line(msgspec.Struct, frozen=True):
    result: msgspec.Raw = msgspec.Raw(b"")  # msgspec takes no Raw in a union: empty = absent
    error: dict[str, Any] | None = None


class _Received(msgspec.Struct, frozen=True):
    received_at: str | None = None


_LINE: Final = msgspec.json.Decoder(_Line)
_RECEIVED: Final = msgspec.json.Decoder(_Received)


@dataclass(frozen=True, slots=True)
class StoredUplink:
    """One stored ``ApplicationUp`` as JSON, and its Application Server receive time."""

    body: bytes
    received_ns: int


class StorageClient:
    """Reads one application's stored uplinks; uses the caller's aiohttp session."""

    def __init__(self, settings: BackfillSettings, session: aiohttp.ClientSession) -> None:
        assert settings.url is not None  # noqa: S101 - the settings require both together
        assert settings.token is not None  # noqa: S101
        self._url = settings.url.rstrip("/") + _PATH.format(app=settings.application_id)
        self._headers = {
            "Authorization": f"Bearer {settings.token.get_secret_value()}",
            "Accept": "text/event-stream",
        }
        self._limit = settings.page_size
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._session = session

    async def pages(self, after_ns: int, before_ns: int) -> AsyncIterator[list[StoredUplink]]:
        """The uplinks received in (``after_ns``, ``before_ns``), oldest first, page by page."""
        cursor = after_ns
        while True:
            page = await self.page(cursor, before_ns)
            if page:
                yield page
            if len(page) < self._limit:
                return
            last = page[-1].received_ns - 1
            cursor = last if last > cursor else page[-1].received_ns

    async def page(self, after_ns: int, before_ns: int) -> list[StoredUplink]:
        """One request: at most ``page_size`` uplinks after ``after_ns``; ``BackfillError``."""
        query = {
            "after": rfc3339(after_ns),
            "before": rfc3339(before_ns),
            "limit": str(self._limit),
            "order": "received_at",
        }
        try:
            async with self._session.get(
                self._url, params=query, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise _http_error(response.status, (await response.text())[:300])
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackfillError(f"storage integration unreachable: {exc}", retry=True) from exc
        return [_stored(line) for line in body.splitlines() if line.strip()]


def _http_error(status: int, text: str) -> BackfillError:
    retry = status >= 500 or status in _RETRY_STATUS
    fix = "" if retry else "; check backfill.url, backfill.application_id and backfill.token"
    return BackfillError(f"storage integration answered HTTP {status}: {text}{fix}", retry=retry)


def _stored(line: bytes) -> StoredUplink:
    try:
        parsed = _LINE.decode(line.removeprefix(b"data:").strip())
        if not len(parsed.result):
            raise BackfillError(f"storage integration stream failed: {parsed.error}", retry=True)
        body = bytes(parsed.result)
        received = _RECEIVED.decode(body).received_at
        if received is None:
            raise BackfillError("a stored uplink has no received_at", retry=False)
        return StoredUplink(body, parse_time(received, "received_at"))
    except (msgspec.DecodeError, EnvelopeError) as exc:
        raise BackfillError(f"unreadable line in the storage stream: {exc}", retry=False) from exc
