"""The dead-letter store: JSON lines, payloads kept byte for byte, bounded size, torn tails."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ingest.model import Reason
from ingest.sinks.deadletter import FILE_NAME, DeadLetter, DeadLetterStore, read_dead_letters

TEXT = DeadLetter(
    topic="v3/city@zaanstad/devices/air-1/up",
    payload='{"end_device_ids": {"dev_eui": "70B3D57ED0CA51CE"}, "note": "µg/m³"}'.encode(),
    reason=Reason.UNKNOWN_DEVICE,
    detail="device.unknown",
    message="DevEUI 70B3D57ED0CA51CE is not in the registry",
    received_ns=1_700_000_000_123_456_789,
    network="tts",
)
BINARY = DeadLetter(
    topic="kpn/things/raw",
    payload=b"\xff\xfe\x00\x80not utf-8",
    reason=Reason.BAD_ENVELOPE,
    detail="envelope.json_invalid",
    message="not JSON",
    received_ns=1_700_000_001_000_000_000,
)


@pytest.fixture
def store(tmp_path: Path) -> DeadLetterStore:
    store = DeadLetterStore(tmp_path / "dead-letter", 1 << 20)
    store.open()
    return store


def test_round_trip_keeps_payloads_byte_for_byte(store: DeadLetterStore) -> None:
    assert store.append([TEXT, BINARY]) == 0
    assert list(read_dead_letters(store.path)) == [TEXT, BINARY]
    assert store.path.name == FILE_NAME


def test_records_are_readable_json_lines(store: DeadLetterStore) -> None:
    store.append([TEXT, BINARY])
    text, binary = (json.loads(line) for line in store.path.read_text("utf-8").splitlines())
    assert text["payload_encoding"] == "utf-8"
    assert text["payload"] == TEXT.payload.decode()
    assert text["reason"] == "unknown_device"
    assert text["time"] == "2023-11-14T22:13:20.123457Z"
    assert binary["payload_encoding"] == "base64"
    assert binary["payload"] == "//4AgG5vdCB1dGYtOA=="
    assert binary["network"] is None


def test_appends_accumulate(store: DeadLetterStore) -> None:
    store.append([TEXT])
    store.append([])
    store.append([BINARY, TEXT])
    assert list(read_dead_letters(store.path)) == [TEXT, BINARY, TEXT]


def test_full_store_drops_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    line = len(json.dumps(TEXT.to_json(), ensure_ascii=False).encode()) + 1
    store = DeadLetterStore(tmp_path, max_bytes=3 * line + line // 2)
    store.open()
    with caplog.at_level(logging.ERROR, logger="ingest.sinks.deadletter"):
        assert store.append([TEXT, TEXT]) == 0
        assert store.append([TEXT, TEXT, TEXT]) == 2
        assert store.append([TEXT]) == 1
    assert store.dropped == 3
    assert store.path.stat().st_size <= 3 * line + line // 2
    assert len(list(read_dead_letters(store.path))) == 3
    assert "dead_letter.max_bytes" in caplog.text


def test_torn_tail_is_skipped_and_the_next_append_survives(
    store: DeadLetterStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.append([TEXT])
    whole = json.dumps(BINARY.to_json()).encode()
    with store.path.open("ab") as handle:
        handle.write(whole[: len(whole) // 2])  # a crash in the middle of an append
    store.append([BINARY])
    with caplog.at_level(logging.WARNING, logger="ingest.sinks.deadletter"):
        assert list(read_dead_letters(store.path)) == [TEXT, BINARY]
    assert "line 2 is not a dead letter" in caplog.text


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert list(read_dead_letters(tmp_path / FILE_NAME)) == []
