"""Fixtures of the backfill tests: the Storage Integration stub and its credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backfill.tts_storage_stub import TtsStorageStub

APPLICATION = "city-sensors"
API_KEY = "NNSXS.STUB-KEY-FOR-TESTS"


@pytest.fixture
def storage_stub() -> Iterator[TtsStorageStub]:
    with TtsStorageStub(APPLICATION, API_KEY) as stub:
        yield stub
