"""Event-time windows with mergeable per-(device, window) state: the kernel every processor uses.

Rules (house style §4): windows are ``[start, end)``; the watermark is the largest event time
seen minus the allowed lateness; a window is emitted once the watermark reaches its end; a
reading for a window already emitted, but newer than ``watermark - horizon``, updates that window
and it is emitted again (same device and start, so the rewrite overwrites); an older reading is
*late*: it goes to the ``late`` output and is counted, never folded in. Windows that ended before
``watermark - horizon`` can receive nothing more and are freed.

Per window and field the state is ``count``, ``sum``, ``min`` and ``max`` of the valid values, or
the subset of them the processor emits (energetic sums for dB are the ``sum`` of ``10^(L/10)``):
they merge exactly, in any order.
A window is found through a sorted key index (``processors.partials.pack``) and keeps its state
in a slot of column arrays; freed slots are reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from processors.base import Float64Array, Int32Array, Int64Array
from processors.partials import STATS, IntpArray, Partials, Stats, unpack
from processors.sample import SampleStore, UInt64Array

__all__ = ["Arrays", "Closed", "EventClock", "WindowStore"]

Arrays = dict[str, npt.NDArray[Any]]

_NEVER: Final = -(2**63)
_EMPTY: Final = {"min": np.inf, "max": -np.inf}  # identity elements of minimum / maximum


class EventClock:
    """Watermark and update floor, advanced only by event times (or an explicit flush)."""

    def __init__(self, lateness_ns: int, horizon_ns: int) -> None:
        self.lateness_ns = lateness_ns
        self.horizon_ns = horizon_ns
        self.max_event = _NEVER
        self.forced = _NEVER

    @property
    def watermark(self) -> int:
        """Windows that end at or before this instant are complete."""
        if self.max_event == _NEVER:
            return self.forced
        return max(self.max_event - self.lateness_ns, self.forced)

    @property
    def floor(self) -> int:
        """Readings older than this are late; windows ending at or before it are freed."""
        return max(self.watermark - self.horizon_ns, _NEVER)

    def on_time(self, time_ns: Int64Array) -> npt.NDArray[np.bool_]:
        """Which readings are still inside the update horizon."""
        return time_ns >= self.floor

    def observe(self, time_ns: Int64Array) -> None:
        """Advance the largest event time seen."""
        if time_ns.size:
            self.max_event = max(self.max_event, int(time_ns.max()))

    def advance_to(self, until_ns: int) -> None:
        """Move the watermark to at least ``until_ns`` (shutdown, tests)."""
        self.forced = max(self.forced, until_ns)

    def state(self) -> Arrays:
        """Arrays to snapshot."""
        return {"clock": np.array([self.max_event, self.forced], dtype=np.int64)}

    def load(self, state: Arrays) -> None:
        """Restore from ``state``."""
        self.max_event, self.forced = (int(x) for x in state["clock"])


@dataclass(frozen=True, slots=True)
class Closed:
    """Windows being emitted, in key order (window, then device), with their state."""

    window: Int64Array  # window number (UTC hour, local day, ...)
    device: Int32Array
    start: Int64Array
    end: Int64Array
    slots: IntpArray
    store: WindowStore

    def count(self, name: str) -> Int64Array:
        """Valid readings per window."""
        return self.store.columns[name + ".count"][self.slots].astype(np.int64)

    def mean(self, name: str) -> Float64Array:
        """Mean of the valid readings, NaN where there were none."""
        n = self.count(name)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.total(name) / n, np.nan)

    def total(self, name: str) -> Float64Array:
        """Sum of the valid readings."""
        return self.store.columns[name + ".sum"][self.slots]

    def low(self, name: str) -> Float64Array:
        """Minimum, NaN where there were no readings."""
        return self._finite(self.store.columns[name + ".min"][self.slots])

    def high(self, name: str) -> Float64Array:
        """Maximum, NaN where there were no readings."""
        return self._finite(self.store.columns[name + ".max"][self.slots])

    def percentiles(self, *qs: float) -> list[Float64Array]:
        """Percentiles of the windows' bounded samples (see ``processors.sample``), one array
        per ``q``."""
        if self.store.sample is None:
            msg = "this window store keeps no sample"
            raise TypeError(msg)
        return self.store.sample.several_percentiles(self.slots, qs)

    @staticmethod
    def _finite(values: Float64Array) -> Float64Array:
        return np.where(np.isfinite(values), values, np.nan)


class WindowStore:
    """Slots of per-(device, window) state, found through a sorted key index."""

    def __init__(self, fields: tuple[str, ...] | Stats, sample_size: int = 0) -> None:
        """``fields`` names the statistics kept per field, or the fields that keep all."""
        self.fields = dict.fromkeys(fields, STATS) if isinstance(fields, tuple) else dict(fields)
        self.sample = SampleStore(sample_size) if sample_size else None
        self._keys: Int64Array = np.empty(0, dtype=np.int64)  # sorted
        self._slots: IntpArray = np.empty(0, dtype=np.intp)  # slot of each key
        self._free: IntpArray = np.empty(0, dtype=np.intp)
        self._used = 0  # slots handed out so far (free or not); the rest is spare capacity
        self.columns: Arrays = {name: np.empty(0, dtype=dtype) for name, dtype in self._layout()}

    def __len__(self) -> int:
        return int(self._keys.size)

    def fold(
        self, key: Int64Array, start: Int64Array, end: Int64Array, parts: Partials
    ) -> IntpArray:
        """Merge partials for sorted unique ``key``s into their windows; returns their slots."""
        pos = np.searchsorted(self._keys, key)
        hit = pos < self._keys.size
        hit[hit] = self._keys[pos[hit]] == key[hit]
        slots = np.empty(key.size, dtype=np.intp)
        slots[hit] = self._slots[pos[hit]]
        slots[~hit] = self._allocate(int((~hit).sum()))
        self._keys = np.insert(self._keys, pos[~hit], key[~hit])
        self._slots = np.insert(self._slots, pos[~hit], slots[~hit])
        c = self.columns
        c["start"][slots], c["end"][slots] = start, end
        for name, kept in self.fields.items():
            if "count" in kept:
                c[name + ".count"][slots] += parts.count[name]
            if "sum" in kept:
                c[name + ".sum"][slots] += parts.total[name]
            if "min" in kept:
                c[name + ".min"][slots] = np.minimum(c[name + ".min"][slots], parts.low[name])
            if "max" in kept:
                c[name + ".max"][slots] = np.maximum(c[name + ".max"][slots], parts.high[name])
        c["dirty"][slots] = True
        return slots

    def fold_sample(
        self, slots: IntpArray, index: IntpArray, prio: UInt64Array, value: Float64Array
    ) -> None:
        """Offer readings (``index`` into the ``slots`` ``fold`` returned) to the sample."""
        if self.sample is None:
            return
        valid = ~np.isnan(value)
        if valid.all():  # the common case: no compacted copies
            self.sample.merge(slots[index], prio, value)
        else:
            self.sample.merge(slots[index[valid]], prio[valid], value[valid])

    def take_closed(self, watermark: int) -> Closed:
        """Updated windows that end at or before ``watermark``; they stop being dirty."""
        c = self.columns
        ready = c["dirty"][self._slots] & (c["end"][self._slots] <= watermark)
        slots = self._slots[ready]
        window, device = unpack(self._keys[ready])
        c["dirty"][slots] = False
        return Closed(window, device, c["start"][slots], c["end"][slots], slots, self)

    def expire(self, floor: int) -> None:
        """Free windows that ended at or before ``floor``: nothing can update them any more."""
        gone = self.columns["end"][self._slots] <= floor
        self._free = np.concatenate([self._free, self._slots[gone]])
        self._keys, self._slots = self._keys[~gone], self._slots[~gone]

    def state(self) -> Arrays:
        """Arrays to snapshot."""
        live = self._slots
        out: Arrays = {"keys": self._keys}
        out.update({name: column[live] for name, column in self.columns.items()})
        if self.sample is not None:
            out.update({"sample." + k: v for k, v in self.sample.state(live).items()})
        return out

    def load(self, state: Arrays) -> None:
        """Restore from ``state`` (slots are renumbered densely)."""
        self._keys = state["keys"].astype(np.int64)
        self._slots = np.arange(self._keys.size, dtype=np.intp)
        self._free = np.empty(0, dtype=np.intp)
        self._used = int(self._keys.size)
        self.columns = {name: state[name].astype(dtype) for name, dtype in self._layout()}
        if self.sample is not None:
            self.sample.load({k[7:]: v for k, v in state.items() if k.startswith("sample.")})

    def _layout(self) -> list[tuple[str, type[np.generic]]]:
        layout: list[tuple[str, type[np.generic]]] = [
            ("start", np.int64),
            ("end", np.int64),
            ("dirty", np.bool_),
        ]
        for name, kept in self.fields.items():
            for stat in (s for s in STATS if s in kept):
                layout.append((f"{name}.{stat}", np.int64 if stat == "count" else np.float64))
        return layout

    def _allocate(self, n: int) -> IntpArray:
        reuse, self._free = self._free[:n], self._free[n:]
        fresh = np.arange(self._used, self._used + n - reuse.size, dtype=np.intp)
        self._used += fresh.size
        capacity = self.columns["start"].size
        if self._used > capacity:
            self._grow(max(2 * capacity, self._used, 64))
        slots = np.concatenate([reuse, fresh])
        self._initialise(slots)
        return slots

    def _grow(self, capacity: int) -> None:
        """Room for ``capacity`` slots; new slots are set up when allocated (``_initialise``),
        so their pages are touched only once used."""
        for name, column in self.columns.items():
            grown = np.empty(capacity, dtype=column.dtype)
            grown[: column.size] = column
            self.columns[name] = grown
        if self.sample is not None:
            self.sample.grow(capacity)

    def _initialise(self, slots: IntpArray) -> None:
        for name, column in self.columns.items():
            column[slots] = _EMPTY.get(name.rsplit(".", 1)[-1], 0)
        if self.sample is not None:
            self.sample.reset(slots)
