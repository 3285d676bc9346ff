"""The shared life cycle of a windowed processor: late split, fold, watermark, emit, expire.

Subclasses say how to fold accepted readings into their state (``_fold``) and what the
watermark closes (``_emit``). State kept in ``WindowStore``s registered in ``stores`` is expired
and snapshotted here; other state needs ``_expire``/``_state``/``_load`` overrides. Snapshots
are ``.npz`` archives (no pickling).
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod

import numpy as np

from ingest.errors import ConfigError
from processors.base import Batch, Outputs, Points
from processors.windows import Arrays, EventClock, WindowStore

__all__ = ["WindowedProcessor", "seconds_to_ns"]

_FINGERPRINT = "meta:fingerprint"


def seconds_to_ns(seconds: float) -> int:
    """A configured duration in seconds as integer nanoseconds."""
    return round(seconds * 1e9)


class WindowedProcessor(ABC):
    """``process``/``flush``/``snapshot``/``restore`` on top of an ``EventClock``.

    ``fingerprint`` names the state layout (kind, format version and the settings that shape the
    state, such as the time zone of local days); a snapshot only restores into a processor with
    the same one. Thresholds may change across a restart.
    """

    def __init__(self, lateness_s: float, horizon_s: float, fingerprint: str) -> None:
        if lateness_s < 0 or horizon_s < 0:
            raise ConfigError(
                "processors.lateness_s",
                f"negative lateness or horizon ({lateness_s}, {horizon_s})",
                "give durations ≥ 0 seconds",
            )
        self.clock = EventClock(seconds_to_ns(lateness_s), seconds_to_ns(horizon_s))
        self._fingerprint = fingerprint
        self.stores: dict[str, WindowStore] = {}  # subclasses register their window stores

    def process(self, batch: Batch) -> Outputs:
        """Fold on-time readings, advance the watermark, emit what it closed."""
        on_time = self.clock.on_time(batch.time_ns)
        if on_time.all():
            accepted, late = batch, batch.take(np.zeros(0, dtype=np.intp))
        else:
            accepted, late = batch.take(on_time), batch.take(~on_time)
        immediate = self._fold(accepted) if len(accepted) else []
        self.clock.observe(batch.time_ns)
        return Outputs([p for p in immediate if len(p)] + self._close(), late)

    def flush(self, until_ns: int) -> Outputs:
        """Advance the watermark to ``until_ns`` and emit what that closes."""
        self.clock.advance_to(until_ns)
        return Outputs(self._close(), Batch(np.empty(0, np.int32), np.empty(0, np.int64), {}))

    def snapshot(self) -> bytes:
        """The whole state as an ``.npz`` archive."""
        arrays = {**self.clock.state(), **self._state()}
        arrays[_FINGERPRINT] = np.array(self._fingerprint)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot taken under the same configuration."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if str(arrays.pop(_FINGERPRINT)) != self._fingerprint:
            raise ConfigError(
                "processors",
                "the snapshot's state layout differs (other kind, time zone or sample size)",
                "restore with the settings it was taken with, or start without the snapshot",
            )
        self.clock.load(arrays)
        self._load(arrays)

    def _close(self) -> list[Points]:
        points = self._emit(self.clock.watermark)
        self._expire(self.clock.floor)
        return [p for p in points if len(p)]

    @abstractmethod
    def _fold(self, batch: Batch) -> list[Points]:
        """Fold accepted (on-time) readings into the state; return any immediate points."""

    @abstractmethod
    def _emit(self, watermark: int) -> list[Points]:
        """Points for everything updated and closed at ``watermark``."""

    def _expire(self, floor: int) -> None:
        """Free state nothing at or after ``floor`` can change."""
        for store in self.stores.values():
            store.expire(floor)

    def _state(self) -> Arrays:
        """Arrays to snapshot (names must not start with ``meta:`` or ``clock``)."""
        return {
            f"{name}:{key}": array
            for name, store in self.stores.items()
            for key, array in store.state().items()
        }

    def _load(self, arrays: Arrays) -> None:
        """Restore from ``_state``'s arrays."""
        for name, store in self.stores.items():
            prefix = name + ":"
            store.load({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
