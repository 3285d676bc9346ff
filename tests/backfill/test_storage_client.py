"""The Storage Integration client against the stub of the documented retrieval API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from ingest.backfill import StorageClient, StoredUplink
from ingest.errors import BackfillError
from ingest.settings.integrations import BackfillSettings
from tests.backfill.conftest import API_KEY, APPLICATION
from tests.backfill.tts_storage_stub import TtsStorageStub
from tests.uplinks import clean_uplinks

SECOND = 1_000_000_000


def _fetch(
    stub: TtsStorageStub, after_ns: int, before_ns: int, *, key: str = API_KEY, page: int = 10
) -> list[StoredUplink]:
    settings = BackfillSettings(
        url=stub.url, application_id=APPLICATION, token=SecretStr(key), page_size=page
    )

    async def go() -> list[StoredUplink]:
        async with aiohttp.ClientSession() as session:
            client = StorageClient(settings, session)
            return [u async for p in client.pages(after_ns, before_ns) for u in p]

    return asyncio.run(go())


def _received(body: bytes) -> str:
    return str(json.loads(body)["received_at"])


def test_pages_return_every_stored_uplink_of_the_range_in_order(
    storage_stub: TtsStorageStub, tmp_path: Path
) -> None:
    uplinks = clean_uplinks(tmp_path, "tts", messages=45)
    for uplink in uplinks:
        storage_stub.store(uplink.payload)
    inside = uplinks[5:40]
    after = uplinks[4].entry.time_ns + SECOND  # between uplinks 4 and 5 (receive delay < 1 s)
    before = uplinks[40].entry.time_ns
    fetched = _fetch(storage_stub, after, before, page=10)
    distinct = list(dict.fromkeys(u.body for u in fetched))  # page boundaries repeat one uplink
    assert distinct == [u.payload for u in inside]
    assert [u.received_ns for u in fetched] == sorted(u.received_ns for u in fetched)
    assert len(storage_stub.requests) == 4  # 35 uplinks + 3 repeated boundaries, pages of 10
    assert all(q["limit"] == "10" and q["order"] == "received_at" for q in storage_stub.requests)
    assert storage_stub.requests[1]["after"] < _received(fetched[9].body)


def test_a_wrong_key_is_an_error_that_retrying_cannot_fix(storage_stub: TtsStorageStub) -> None:
    with pytest.raises(BackfillError, match="HTTP 401") as caught:
        _fetch(storage_stub, 0, SECOND, key="NNSXS.WRONG")
    assert not caught.value.retry


def test_an_unreachable_server_is_retried(storage_stub: TtsStorageStub) -> None:
    url = storage_stub.url
    storage_stub.__exit__(None, None, None)
    settings = BackfillSettings(url=url, application_id=APPLICATION, token=SecretStr(API_KEY))

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            await StorageClient(settings, session).page(0, SECOND)

    with pytest.raises(BackfillError, match="unreachable") as caught:
        asyncio.run(go())
    assert caught.value.retry
