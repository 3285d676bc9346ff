"""What the status page shows: each device's latest state and the latest dead letters.

Updated once per acknowledged batch from its columns (no per-message work), read by
``/api/status``. Positions of citizen-hosted devices are coarsened to the privacy grid before
they leave the process; their names are pseudonyms.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ingest.model import Device, Kind, Owner
from ingest.privacy import coarsen
from ingest.registry import Registry
from ingest.sinks.deadletter import DeadLetter
from ingest.transform import Links
from processors import Batch

__all__ = ["StatusBoard"]

_RECENT_DEAD_LETTERS = 50
_QC_FLAGS = (1, 3, 4)
# Topics, messages and payloads can carry DevEUIs (identifiers of citizen-hosted devices):
# the page shows what went wrong, the dead-letter store keeps the rest for operators.
_LETTER_FIELDS = frozenset(
    {"time", "network", "reason", "detail"}
)  # QARTOD pass / suspect / fail: the worst of the latest reading is shown


class StatusBoard:
    """Per-device latest state, indexed by registry device code."""

    def __init__(
        self,
        registry: Registry,
        name_of: Callable[[Device], str],
        grid_m: float,
        silent_after_s: float,
    ) -> None:
        self._silent_after_ns = int(silent_after_s * 1e9)
        self._grid_m = grid_m
        self._letters: deque[DeadLetter] = deque(maxlen=_RECENT_DEAD_LETTERS)
        self._last_seen = np.zeros(0, dtype=np.int64)
        self._battery = np.zeros(0)
        self._rssi = np.zeros(0)
        self._qc = np.zeros(0, dtype=np.uint8)
        self.use_registry(registry, name_of)

    def use_registry(self, registry: Registry, name_of: Callable[[Device], str]) -> None:
        """Follow a reloaded registry (codes of known devices are stable, so state is kept)."""
        size = len(registry)
        self._registry = registry
        self._names = [name_of(d) for d in registry]
        self._last_seen = _grown(self._last_seen, size, 0)
        self._battery = _grown(self._battery, size, np.nan)
        self._rssi = _grown(self._rssi, size, np.nan)
        self._qc = _grown(self._qc, size, 0)

    def observe_links(self, links: Iterable[Links]) -> None:
        for block in links:
            order = np.argsort(block.time_ns, kind="stable")  # the newest per device wins
            device, times = block.device[order], block.time_ns[order]
            newer = times >= self._last_seen[device]
            self._last_seen[device[newer]] = times[newer]
            for column, values in ((self._rssi, block.rssi), (self._battery, block.battery_v)):
                fresh = newer & ~np.isnan(values[order])
                column[device[fresh]] = values[order][fresh]

    def observe_readings(self, readings: Iterable[tuple[Kind, Batch]]) -> None:
        for _, batch in readings:
            if not batch.qc:
                continue
            worst = np.zeros(len(batch), dtype=np.uint8)
            for column in batch.qc.values():  # 9 (missing) does not make a reading worse
                worst = np.maximum(worst, np.where(np.isin(column, _QC_FLAGS), column, 0))
            self._qc[batch.device] = worst

    def observe_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._letters.extend(letters)

    def snapshot(self, now_ns: int) -> dict[str, Any]:
        """The devices and the latest dead letters, JSON-ready."""
        devices = [self._device(d, now_ns) for d in self._registry.by_eui.values()]
        letters = [
            {k: v for k, v in d.to_json().items() if k in _LETTER_FIELDS}
            for d in reversed(self._letters)
        ]
        return {"devices": devices, "dead_letters": letters}

    def _device(self, device: Device, now_ns: int) -> dict[str, Any]:
        code = device.code
        seen = int(self._last_seen[code])
        lat, lon = device.lat, device.lon
        if device.owner is Owner.CITIZEN:
            lat, lon = coarsen(lat, lon, self._grid_m)
        return {
            "device": self._names[code],
            "kind": device.kind.value,
            "district": device.district,
            "site": device.site if device.owner is Owner.MUNICIPAL else "",
            "lat": round(lat, 5),
            "lon": round(lon, 5),
            "last_seen_ns": seen or None,
            "battery_v": _finite(self._battery[code]),
            "rssi": _finite(self._rssi[code]),
            "qc": int(self._qc[code]) or None,
            "silent": seen == 0 or now_ns - seen > self._silent_after_ns,
        }


def _grown(values: np.ndarray[Any, Any], size: int, fill: float) -> np.ndarray[Any, Any]:
    if values.shape[0] >= size:
        return values
    return np.concatenate([values, np.full(size - values.shape[0], fill, dtype=values.dtype)])


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 3)
