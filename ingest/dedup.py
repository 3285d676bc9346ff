"""Duplicate detection for uplinks seen more than once (contract §7, spec §5.2).

The key is (DevEUI, fCnt, payload digest): the same uplink via QoS 1 redelivery, a replay or a
second network-server path has the same key even with other receive times and gateways, while a
device reset (fCnt back to 0) with a new payload does not. Where the network gives no fCnt
(KPN SenML) the uplink's own time stands in for it. Keys expire after ``window`` seconds of the
injected clock; memory is bounded by ``max_entries`` (oldest forgotten first).
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from ingest.model import Uplink

__all__ = ["Deduplicator"]

_Key = tuple[str, int, bytes]


class Deduplicator:
    """Remembers uplink keys for a bounded time and a bounded count."""

    def __init__(self, window_s: float, max_entries: int, now: Callable[[], int]) -> None:
        self._window_ns = int(window_s * 1e9)
        self._max_entries = max_entries
        self._now = now
        self._seen: OrderedDict[_Key, int] = OrderedDict()  # key -> time first seen (ns)

    def __len__(self) -> int:
        return len(self._seen)

    def is_duplicate(self, uplink: Uplink) -> bool:
        """True if this uplink was seen within the window; otherwise remember it."""
        now = self._now()
        self._expire(now)
        key = _key(uplink)
        if key in self._seen:
            return True
        self._seen[key] = now
        if len(self._seen) > self._max_entries:
            self._seen.popitem(last=False)
        return False

    def snapshot(self) -> bytes:
        """The remembered keys, for a restart (save it only when every key's uplink is
        durable: a key saved for an unwritten uplink would turn its redelivery into a loss)."""
        keys = list(self._seen.items())
        buffer = io.BytesIO()
        np.savez(
            buffer,
            dev_eui=np.array([k[0] for k, _ in keys], dtype="U16"),
            counter=np.array([k[1] for k, _ in keys], dtype=np.int64),
            digest=np.frombuffer(b"".join(k[2] for k, _ in keys), dtype=np.uint8).reshape(-1, 16),
            first=np.array([t for _, t in keys], dtype=np.int64),
        )
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Remember the keys of a snapshot (oldest first; expired ones leave on first use)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            rows = zip(
                archive["dev_eui"].tolist(),
                archive["counter"].tolist(),
                archive["digest"],
                archive["first"].tolist(),
                strict=True,
            )
            self._seen = OrderedDict(
                ((eui, counter, bytes(digest)), first) for eui, counter, digest, first in rows
            )

    def _expire(self, now: int) -> None:
        horizon = now - self._window_ns
        seen = self._seen
        while seen:
            key, first = next(iter(seen.items()))
            if first >= horizon:
                return
            del seen[key]


def _key(uplink: Uplink) -> _Key:
    counter = uplink.f_cnt if uplink.f_cnt is not None else uplink.time_ns
    content = uplink.payload or _records_digest(uplink)
    return uplink.dev_eui, counter, hashlib.blake2b(content, digest_size=16).digest()


def _records_digest(uplink: Uplink) -> bytes:
    parts = [f"{r.name}|{r.unit}|{r.value!r}|{r.time_ns}" for r in uplink.records]
    if uplink.decoded is not None:
        parts.append(repr(sorted(uplink.decoded.items())))
    return "\n".join(parts).encode()
