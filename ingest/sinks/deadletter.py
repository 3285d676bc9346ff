"""The dead-letter store: JSON lines on disk, fsynced before the uplink is acknowledged.

One record per uplink that could not be written (contract §7): the topic and payload exactly as
received, the reason, a finer detail code, a human message and the receive time. The store is
bounded by ``max_bytes``; past that, records are dropped and counted (``dropped``) so that the
service keeps running and the loss is visible on /metrics and in the log.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.model import Reason

__all__ = ["DeadLetter", "DeadLetterStore", "read_dead_letters", "refused_letter"]

log = logging.getLogger(__name__)
FILE_NAME = "dead-letter.jsonl"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An uplink that could not be used, and why."""

    topic: str
    payload: bytes
    reason: Reason
    detail: str
    message: str
    received_ns: int
    network: str | None = None

    def to_json(self) -> dict[str, Any]:
        try:
            text, encoding = self.payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(self.payload).decode("ascii"), "base64"
        stamp = datetime.fromtimestamp(self.received_ns / 1e9, tz=UTC)
        return {
            "time": stamp.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "received_ns": self.received_ns,
            "topic": self.topic,
            "network": self.network,
            "reason": self.reason.value,
            "detail": self.detail,
            "message": self.message,
            "payload_encoding": encoding,
            "payload": text,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> DeadLetter:
        text = str(record["payload"])
        payload = (
            base64.b64decode(text)
            if record.get("payload_encoding") == "base64"
            else text.encode("utf-8")
        )
        return cls(
            topic=str(record["topic"]),
            payload=payload,
            reason=Reason(record["reason"]),
            detail=str(record["detail"]),
            message=str(record["message"]),
            received_ns=int(record["received_ns"]),
            network=record.get("network"),
        )


def refused_letter(topic: str, payload: bytes, why: str, received_ns: int) -> DeadLetter:
    """What InfluxDB refused (HTTP 400/422): reason ``rejected_by_db`` with its answer."""
    return DeadLetter(
        topic=topic,
        payload=payload,
        reason=Reason.REJECTED_BY_DB,
        detail="influxdb.rejected",
        message=why.strip()[:500],
        received_ns=received_ns,
    )


class DeadLetterStore:
    """Appends dead letters durably; bounded in size."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.path = directory / FILE_NAME
        self._directory = directory
        self._max_bytes = max_bytes
        self.dropped = 0

    def open(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)

    def append(self, letters: Sequence[DeadLetter]) -> int:
        """Write and fsync ``letters``; returns how many were dropped because the store is full."""
        if not letters:
            return 0
        size = self.path.stat().st_size if self.path.exists() else 0
        # a crash mid-append can leave a torn last line: start on a fresh line after it
        separator = b"\n" if size and not self._ends_with_newline() else b""
        size += len(separator)
        lines: list[bytes] = []
        for letter in letters:
            line = json.dumps(letter.to_json(), ensure_ascii=False).encode("utf-8") + b"\n"
            if size + len(line) > self._max_bytes:
                break
            size += len(line)
            lines.append(line)
        dropped = len(letters) - len(lines)
        if lines:
            with self.path.open("ab") as handle:
                handle.write(separator + b"".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
        if dropped:
            self.dropped += dropped
            log.error(
                "dead-letter store %s is full (max_bytes=%d): dropped %d dead letters; "
                "replay or archive it, or raise dead_letter.max_bytes",
                self.path,
                self._max_bytes,
                dropped,
            )
        return dropped

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


def read_dead_letters(path: Path) -> Iterator[DeadLetter]:
    """Every record of a dead-letter file, oldest first.

    A line that is not a record is skipped with a warning: it is the torn tail of an append
    that a crash cut short, whose uplink was never acknowledged, so the broker redelivers it.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                letter = DeadLetter.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s line %d is not a dead letter (%s); skipped", path, number, exc)
                continue
            yield letter
