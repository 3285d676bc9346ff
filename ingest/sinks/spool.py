"""The disk spool: batches of line protocol kept durably while InfluxDB cannot take them.

Layout: ``dir/segment-<seq>.spool`` files of records, each ``length (u32) | crc32 (u32) |
time_ns (u64) | body`` (the batch's lines joined by newlines, UTF-8), appended and fsynced
before the messages they came from are acknowledged; ``dir/cursor`` holds how far the oldest
segment has been written to InfluxDB (``seq offset``), replaced atomically after each record.
A record written to InfluxDB but not yet marked (a crash in between) is written again on start:
points are idempotent. A torn record at the end of the newest segment (a crash mid-append, never
acknowledged) is cut off on open. The spool is bounded by ``max_bytes``: ``append`` raises
``SpoolFull`` and the caller stops acknowledging instead of dropping anything.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SpoolFull", "SpoolRecord"]

log = logging.getLogger(__name__)
_HEADER = struct.Struct("!IIQ")
_SEGMENT_BYTES = 16 << 20
_PREFIX, _SUFFIX = "segment-", ".spool"


class SpoolFull(Exception):
    """The spool has no room for the batch; try again after it drained."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    lines: list[str]
    time_ns: int  # when it was spooled


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int
    records: int


class Spool:
    """Durable FIFO of line-protocol batches on disk."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._segments: list[_Segment] = []
        self._offset = 0  # read position in the oldest segment
        self._oldest_ns = 0

    # -- state -------------------------------------------------------------------------------
    @property
    def empty(self) -> bool:
        return self.records == 0

    @property
    def records(self) -> int:
        return sum(s.records for s in self._segments)

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self._segments) - self._offset

    @property
    def oldest_ns(self) -> int:
        """When the oldest pending record was spooled; 0 when empty."""
        return 0 if self.empty else self._oldest_ns

    # -- opening and recovery ------------------------------------------------------------------
    def open(self) -> None:
        """Scan the directory: count records, cut a torn tail, apply the cursor."""
        self._dir.mkdir(parents=True, exist_ok=True)
        paths = sorted(self._dir.glob(f"{_PREFIX}*{_SUFFIX}"))
        seq, offset = self._read_cursor()
        for path in paths:
            number = int(path.name[len(_PREFIX) : -len(_SUFFIX)])
            if number < seq:
                path.unlink()  # fully written before the last stop
                continue
            start = offset if number == seq else 0
            records, good = self._scan(path, start)
            if good < path.stat().st_size:
                log.warning(
                    "spool %s: cutting a torn record at byte %d (never acknowledged)", path, good
                )
                with path.open("r+b") as handle:
                    handle.truncate(good)
            self._segments.append(_Segment(number, path, good, records))
        self._offset = offset if self._segments and self._segments[0].seq == seq else 0
        self._drop_finished()
        self._oldest_ns = self._peek_time()
        if not self.empty:
            log.info(
                "spool %s holds %d batches (%d bytes) from before the restart",
                self._dir,
                self.records,
                self.bytes,
            )

    # -- appending -------------------------------------------------------------------------------
    def append(self, lines: Sequence[str], now_ns: int) -> None:
        """Add one batch durably (fsync); ``SpoolFull`` when it would exceed ``max_bytes``."""
        body = "\n".join(lines).encode("utf-8")
        record = _HEADER.pack(len(body), zlib.crc32(body), now_ns) + body
        if self.bytes + len(record) > self._max_bytes and not self.empty:
            raise SpoolFull
        segment = self._writable_segment()
        with segment.path.open("ab") as handle:
            handle.write(record)
            handle.flush()
            os.fsync(handle.fileno())
        if self.empty:
            self._oldest_ns = now_ns
        segment.size += len(record)
        segment.records += 1

    # -- consuming -------------------------------------------------------------------------------
    def peek(self) -> SpoolRecord | None:
        """The oldest pending batch, or None."""
        if self.empty:
            return None
        head = self._segments[0]
        with head.path.open("rb") as handle:
            handle.seek(self._offset)
            length, _, time_ns = _HEADER.unpack(handle.read(_HEADER.size))
            body = handle.read(length)
        return SpoolRecord(body.decode("utf-8").split("\n") if body else [], time_ns)

    def pop(self) -> None:
        """Mark the oldest pending batch written; durable before it returns."""
        head = self._segments[0]
        with head.path.open("rb") as handle:
            handle.seek(self._offset)
            length = _HEADER.unpack(handle.read(_HEADER.size))[0]
        self._offset += _HEADER.size + length
        head.records -= 1
        self._drop_finished()
        self._write_cursor()
        self._oldest_ns = self._peek_time()

    # -- internals -------------------------------------------------------------------------------
    def _writable_segment(self) -> _Segment:
        if self._segments and self._segments[-1].size < _SEGMENT_BYTES:
            return self._segments[-1]
        seq = self._segments[-1].seq + 1 if self._segments else 0
        path = self._dir / f"{_PREFIX}{seq:012d}{_SUFFIX}"
        path.touch()
        _fsync_dir(self._dir)
        segment = _Segment(seq, path, 0, 0)
        self._segments.append(segment)
        if len(self._segments) == 1:
            self._offset = 0
        return segment

    def _drop_finished(self) -> None:
        while (
            self._segments
            and self._segments[0].records == 0
            and (len(self._segments) > 1 or self._offset >= self._segments[0].size)
        ):
            self._segments.pop(0).path.unlink(missing_ok=True)
            self._offset = 0

    def _peek_time(self) -> int:
        record = self.peek()
        return 0 if record is None else record.time_ns

    def _read_cursor(self) -> tuple[int, int]:
        path = self._dir / "cursor"
        if not path.exists():
            return 0, 0
        seq, offset = path.read_text(encoding="ascii").split()
        return int(seq), int(offset)

    def _write_cursor(self) -> None:
        text = f"{self._segments[0].seq} {self._offset}" if self._segments else "0 0"
        temporary = self._dir / "cursor.tmp"
        with temporary.open("w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self._dir / "cursor")

    @staticmethod
    def _scan(path: Path, start: int) -> tuple[int, int]:
        """Whole, intact records from ``start``; returns (count, end offset of the last)."""
        records, good = 0, start
        with path.open("rb") as handle:
            handle.seek(start)
            while header := handle.read(_HEADER.size):
                if len(header) < _HEADER.size:
                    break
                length, crc, _ = _HEADER.unpack(header)
                body = handle.read(length)
                if len(body) < length or zlib.crc32(body) != crc:
                    break
                records += 1
                good += _HEADER.size + length
        return records, good


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
