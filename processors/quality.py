"""QARTOD quality flags per reading and field, with a bounded history per device and field.

Tests (IOOS QARTOD as ioos_qc computes them; domain notes §4.2) flag each reading per field:
PASS 1, NOT_EVALUATED 2, SUSPECT 3, FAIL 4, MISSING 9 (NaN). Point tests: gross range (outside
the operator span SUSPECT, outside the sensor span FAIL), optional monthly climatology (UTC
months) and cross-field tests (PM2.5 above PM10, PM in fog, bin distance beyond the empty depth
or inside the blind zone, tilt). Sequence tests over one device's readings of a field in time
order: spike, rate of change, flat line. A reading's flags and validation's range flag are
combined in ioos_qc ``qartod_compare`` order (``combine``). Thresholds: ``QualityConfig``.

Real time, and revised flags. The spike test judges a reading by both neighbours, so the newest
reading is written without it; when its successor shows it was a spike, the stored reading is
*revised*. The flat-line test flags a reading once the run of nearly equal values it ends is
long enough, and then also revises the run's earlier members (as far back as the last
``history`` readings reach): they were just as stuck. Revisions are ``Points`` of the kind's
measurement with only ``<field>_qc`` fields: a point is identified by measurement, tags and time,
so writing them updates the stored readings' flags (InfluxDB merges field sets).

Spike reference: ioos_qc compares a reading with the mean of its neighbours, so a large spike's
two neighbours score half its height and are flagged SUSPECT as well (domain notes §4.3; in a
simulated city that makes two false flags per spike). ``SpikeMethod.PEAK``, the default, scores
a reading only when it stands above (or below) both neighbours, by the smaller difference: a
lone spike is flagged, its neighbours and the first reading of a step change are not.
``SpikeMethod.MEAN`` keeps ioos_qc's reference.

Consequence of revisions: the stored flag of a reading can change after it was written, until
its successor (spike) or the end of its flat run (flat line) has been seen. A replay of an old
reading is re-written with point-test flags only, so it can lower a revised flag.

Deliberate differences from ioos_qc: NaN values are skipped by the sequence tests (neighbours
are the previous and next *reported* values); a flat-line window holds at least 3 readings; the
flat line is a greedy run (it restarts at the value that would widen its spread to the
tolerance), which is ioos_qc's sliding window for a stuck sensor and flags no more otherwise. A
reading not newer than the newest one checked for its device and field (a replay) gets the point
tests only (sequence tests NOT_EVALUATED) and stays out of the history. ``fill_pct`` is derived
from ``distance_mm`` and carries its flag.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from ingest.errors import ConfigError
from ingest.model import Kind
from ingest.schema import fields_of
from processors.base import (
    ABSENT_INT,
    FAIL,
    MISSING,
    SETTINGS,
    BoolArray,
    Float64Array,
    Int32Array,
    Int64Array,
    Points,
    UInt8Array,
)
from processors.episodes import block_starts

__all__ = [
    "DEFAULT_FIELDS",
    "NOT_EVALUATED",
    "PASS",
    "SUSPECT",
    "CrossQc",
    "FieldQc",
    "QcResult",
    "QualityChecker",
    "QualityConfig",
    "SpikeMethod",
    "combine",
    "count_flags",
]

# QARTOD flag values (ioos_qc ``QartodFlags``); FAIL and MISSING come from processors.base.
PASS: Final = 1
NOT_EVALUATED: Final = 2
SUSPECT: Final = 3
_H: Final = 3600.0
_NEVER: Final = np.iinfo(np.int64).min


class SpikeMethod(StrEnum):
    """How far a reading stands out from its two neighbours."""

    MEAN = "mean"  # ioos_qc: |x[n] - (x[n-1] + x[n+1]) / 2|; a big spike's neighbours score half
    PEAK = "peak"  # min(|x[n] - x[n-1]|, |x[n] - x[n+1]|) if x[n] is above or below both, else 0


@dataclass(frozen=True, slots=True)
class FieldQc:
    """Thresholds of one field, in its schema unit; ``None`` switches a test off."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    suspect_span: tuple[float, float] | None = None  # operator span (gross range → SUSPECT)
    fail_span: tuple[float, float] | None = None  # sensor span; None: the schema's range
    spike: tuple[float, float] | None = None  # (suspect, fail) deviation
    rate_of_change: float | None = None  # units per second → SUSPECT
    flat_line: tuple[float, float, float] | None = None  # (suspect s, fail s, tolerance)
    climatology: tuple[tuple[float, float], ...] | None = None  # 12 (low, high), Jan..Dec


@dataclass(frozen=True, slots=True)
class CrossQc:
    """Thresholds of the tests that relate fields of one reading."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    pm_inversion: tuple[float, float] = (1.0, 10.0)
    """PM2.5 above PM10 by this many µg/m³ → (SUSPECT, FAIL): PM2.5 is a fraction of PM10 from
    the same optical sensor; 1 µg/m³ covers the rounding of both channels (design choice)."""
    fog_humidity: float = 95.0
    """%RH above which optical PM readings are SUSPECT (they over-read in fog)."""
    bin_tolerance_mm: float = 50.0
    """Bin distance beyond the empty depth plus this → SUSPECT (lid open, bin moved)."""
    blind_zone_mm: float = 280.0
    """Bin distance below this → FAIL: the Dragino DDS75-LB measures from 280 mm."""


# Starting thresholds: domain notes §4.2 table where it has the field, else design choices:
# PM10 spans ≈ PM2.5 x 1.3; NO2 operator span to the EU alert threshold 400 µg/m³ and O3 to
# 300 (above the 240 µg/m³ alert threshold; Directive 2008/50/EC Annex XII); pressure beyond
# the Dutch sea-level records; LAmax and LAmin have no spike test (impulsive by definition);
# bin distance has no spike test (emptyings are real jumps) and its SUSPECT span is per bin
# (``CrossQc.bin_tolerance_mm``). Rate of change is off: the spike test catches isolated jumps,
# and a rate test flags both edges of a spike (the good reading after it too).
_AIR: Final = {
    "pm25": FieldQc((0, 300), None, (50, 150), None, (6 * _H, 24 * _H, 0.1)),
    "pm10": FieldQc((0, 400), None, (65, 200), None, (6 * _H, 24 * _H, 0.1)),
    "no2": FieldQc((0, 400), None, (100, 200), None, (6 * _H, 24 * _H, 0.1)),
    "o3": FieldQc((0, 300), None, (60, 120), None, (6 * _H, 24 * _H, 0.1)),
    "temperature": FieldQc((-25, 45), (-40, 85), (3, 6), None, (3 * _H, 12 * _H, 0.05)),
    "humidity": FieldQc((5, 100), (0, 100), (15, 30), None, (6 * _H, 24 * _H, 0.1)),
    "pressure": FieldQc((940, 1060), None, (5, 10), None, (6 * _H, 24 * _H, 0.05)),
}
_NOISE: Final = {
    "laeq": FieldQc((30, 110), (20, 140), (15, 25), None, (1 * _H, 6 * _H, 0.05)),
    "lamax": FieldQc((30, 130), (20, 140), None, None, (1 * _H, 6 * _H, 0.05)),
    "lamin": FieldQc((25, 110), (20, 140), None, None, (1 * _H, 6 * _H, 0.05)),
}
_WASTE: Final = {
    "distance_mm": FieldQc(None, None, None, None, (7 * 24 * _H, 30 * 24 * _H, 1.0)),
    "temperature": FieldQc((-25, 60), (-40, 125), (3, 6), None, (3 * _H, 12 * _H, 0.05)),
}
DEFAULT_FIELDS: Final[Mapping[Kind, Mapping[str, FieldQc]]] = MappingProxyType(
    {
        k: MappingProxyType(v)
        for k, v in ((Kind.AIR, _AIR), (Kind.NOISE, _NOISE), (Kind.WASTE, _WASTE))
    }
)


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """All QC thresholds. ``history``: readings per device and field a flat line revises."""

    __pydantic_config__: ClassVar[dict[str, str | bool]] = SETTINGS

    fields: Mapping[Kind, Mapping[str, FieldQc]] = field(
        default_factory=lambda: {kind: dict(specs) for kind, specs in DEFAULT_FIELDS.items()}
    )
    """Per kind and field: `suspect_span`, `fail_span`, `spike` (suspect, fail), `rate_of_change`
    (units/s), `flat_line` (suspect s, fail s, tolerance), `climatology` (12 monthly spans);
    defaults in docs/quality.md."""
    cross: CrossQc = CrossQc()
    """Tests that relate fields of one reading."""
    spike_method: SpikeMethod = SpikeMethod.PEAK
    """`peak`: a reading above or below both neighbours by the threshold; `mean`: ioos_qc's
    distance from the neighbours' mean (also flags the neighbours)."""
    history: int = 64
    """Readings per device and field a detected flat line revises back to."""


@dataclass(frozen=True, slots=True)
class QcResult:
    """Flags per field for the rows checked, and revised flags of readings checked earlier."""

    flags: dict[str, UInt8Array]
    revised: Points


def _precedence() -> UInt8Array:
    # ioos_qc qartod_compare applies MISSING, NOT_EVALUATED, PASS, SUSPECT, FAIL in this order,
    # each overwriting the earlier ones: the flag latest in the order wins.
    rank = np.zeros(256, dtype=np.uint8)
    rank[[MISSING, NOT_EVALUATED, PASS, SUSPECT, FAIL]] = np.arange(1, 6)
    rank.flags.writeable = False
    return rank


_RANK: Final = _precedence()


def combine(*flags: UInt8Array) -> UInt8Array:
    """One flag per reading from several tests' flags, by QARTOD precedence."""
    out = np.array(flags[0], dtype=np.uint8)
    for other in flags[1:]:
        out = np.where(_RANK[other] > _RANK[out], other, out).astype(np.uint8)
    return out


def count_flags(flags: Mapping[str, UInt8Array], rows: int) -> tuple[Int64Array, Int64Array]:
    """Per reading, how many fields are SUSPECT and how many FAIL (``device_health`` input)."""
    suspect, fail = np.zeros(rows, np.int64), np.zeros(rows, np.int64)
    for column in flags.values():
        suspect += column == SUSPECT
        fail += column == FAIL
    return suspect, fail


def gross_range(
    x: Float64Array, fail: tuple[float, float], suspect: tuple[float, float] | None
) -> UInt8Array:
    """ioos_qc gross range: outside ``suspect`` SUSPECT, outside ``fail`` FAIL, NaN MISSING."""
    flags = np.full(x.shape, PASS, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        if suspect is not None:
            flags[(x < suspect[0]) | (x > suspect[1])] = SUSPECT
        flags[(x < fail[0]) | (x > fail[1])] = FAIL
    flags[np.isnan(x)] = MISSING
    return flags


def climatology(
    x: Float64Array, time_ns: Int64Array, monthly: tuple[tuple[float, float], ...]
) -> UInt8Array:
    """SUSPECT outside the range of the reading's UTC month, else PASS; NaN MISSING."""
    month = time_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64) % 12
    spans = np.asarray(monthly, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        outside = (x < spans[month, 0]) | (x > spans[month, 1])
    flags = np.where(outside, SUSPECT, PASS).astype(np.uint8)
    flags[np.isnan(x)] = MISSING
    return flags


def spike_flags(
    before: Float64Array,
    x: Float64Array,
    after: Float64Array,
    thresholds: tuple[float, float],
    method: SpikeMethod,
) -> UInt8Array:
    """Spike flags of ``x`` between its neighbours: PASS, SUSPECT or FAIL by deviation."""
    if method is SpikeMethod.MEAN:
        deviation = np.abs(x - (before + after) / 2.0)
    else:
        up, down = x - before, x - after
        deviation = np.where(up * down > 0, np.minimum(np.abs(up), np.abs(down)), 0.0)
    flags = np.full(x.shape, PASS, dtype=np.uint8)
    flags[deviation > thresholds[0]] = SUSPECT
    flags[deviation > thresholds[1]] = FAIL
    return flags


def cross_field(
    kind: Kind,
    values: Mapping[str, Float64Array],
    empty_mm: Float64Array,
    config: CrossQc,
) -> dict[str, UInt8Array]:
    """Flags from tests relating fields of one reading, for the fields they judge."""
    n = len(empty_mm)
    nan = np.full(n, np.nan)
    get = values.get
    with np.errstate(invalid="ignore"):
        if kind is Kind.AIR:
            excess = get("pm25", nan) - get("pm10", nan)
            pm = np.where(excess > config.pm_inversion[0], SUSPECT, PASS)
            pm = np.where(excess > config.pm_inversion[1], FAIL, pm)
            pm = combine(pm, np.where(get("humidity", nan) > config.fog_humidity, SUSPECT, PASS))
            return {name: pm for name in ("pm25", "pm10") if name in values}
        if kind is Kind.WASTE:
            d = get("distance_mm", nan)
            fill = np.where(
                (d > empty_mm + config.bin_tolerance_mm) | (get("tilt", nan) == 1), SUSPECT, PASS
            )
            fill = np.where(d < config.blind_zone_mm, FAIL, fill)
            return {"distance_mm": fill.astype(np.uint8)} if "distance_mm" in values else {}
    return {}


# Per-(kind, field) state columns: fill value of a device without readings, and dtype.
_LAYOUT: Final = {
    "last_t": (_NEVER, np.int64),
    "last_x": (np.nan, np.float64),
    "prev_x": (np.nan, np.float64),
    "run_lo": (np.nan, np.float64),
    "run_hi": (np.nan, np.float64),
    "run_len": (0, np.int64),
    "run_flagged": (False, np.bool_),
    "ring_t": (_NEVER, np.int64),
    "ring_flag": (0, np.uint8),
    "ring_row": (-1, np.int64),
}


@dataclass(slots=True)
class _Track:
    """Sequence-test state of one (kind, field), one row per device code. The rings hold the
    newest ``history`` readings, oldest first: time, flag as written, and row in the batch being
    checked (-1: an earlier batch; not saved)."""

    last_t: Int64Array
    last_x: Float64Array
    prev_x: Float64Array
    run_lo: Float64Array
    run_hi: Float64Array
    run_len: Int64Array
    run_flagged: BoolArray
    ring_t: Int64Array
    ring_flag: UInt8Array
    ring_row: Int64Array

    @classmethod
    def empty(cls, history: int) -> _Track:
        return cls(
            *(
                np.full((0, history) if name.startswith("ring") else 0, fill, dtype=dtype)
                for name, (fill, dtype) in _LAYOUT.items()
            )
        )

    def reserve(self, size: int) -> None:
        """Rows for device codes below ``size``."""
        extra = size - self.last_t.shape[0]
        for name, (fill, dtype) in _LAYOUT.items() if extra > 0 else ():
            column = getattr(self, name)
            pad = np.full((extra, *column.shape[1:]), fill, dtype=dtype)
            setattr(self, name, np.concatenate([column, pad]))

    def settle(self, devices: Int32Array, final: UInt8Array) -> None:
        """Record the flags the batch's readings are written with; forget their rows."""
        rows = self.ring_row[devices]
        here = rows >= 0
        flags = self.ring_flag[devices]
        flags[here] = final[rows[here]]
        self.ring_flag[devices] = flags
        self.ring_row[devices] = -1

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """Columns to snapshot (the rows in the current batch are not state)."""
        return {name: getattr(self, name) for name in _LAYOUT if name != "ring_row"}


_Revision = tuple[str, Int32Array, Int64Array, UInt8Array]  # field, device, time, new flag


@dataclass(slots=True)
class _Pass:
    """The sequence tests of one batch on one (kind, field), a rank at a time: every step takes
    at most one reading per device, in time order."""

    track: _Track
    spec: FieldQc
    method: SpikeMethod
    name: str
    spike: UInt8Array
    roc: UInt8Array
    flat: UInt8Array
    revised: list[_Revision]

    def step(
        self, rows: Int64Array, device: Int32Array, time_ns: Int64Array, x: Float64Array
    ) -> None:
        t, d = self.track, device[rows]
        newer = time_ns[rows] > t.last_t[d]
        for column in (self.spike, self.roc, self.flat):
            column[rows[~newer]] = NOT_EVALUATED
        rows, d = rows[newer], d[newer]
        ts, xs = time_ns[rows], x[rows]
        self.roc[rows] = self._rate(d, ts, xs)
        self.spike[rows] = NOT_EVALUATED  # judged when the next reading arrives
        if self.spec.spike is not None:
            self._judge_previous(d, xs)
        for ring in (t.ring_t, t.ring_flag, t.ring_row):
            ring[d, :-1] = ring[d, 1:]
        t.ring_t[d, -1], t.ring_flag[d, -1], t.ring_row[d, -1] = ts, 0, rows
        t.prev_x[d], t.last_x[d], t.last_t[d] = t.last_x[d], xs, ts
        self.flat[rows] = PASS if self.spec.flat_line is None else self._flat_line(d, xs)

    def _rate(self, d: Int32Array, ts: Int64Array, xs: Float64Array) -> UInt8Array:
        flags = np.full(d.size, PASS, dtype=np.uint8)
        if self.spec.rate_of_change is None:
            return flags
        had = self.track.last_t[d] != _NEVER
        seconds = (ts - np.where(had, self.track.last_t[d], 0)) / 1e9
        with np.errstate(invalid="ignore"):
            fast = np.abs(xs - self.track.last_x[d]) / seconds > self.spec.rate_of_change
        flags[had & fast] = SUSPECT
        return flags

    def _judge_previous(self, d: Int32Array, xs: Float64Array) -> None:
        """The spike flag of each device's newest reading, now that its successor is here."""
        t = self.track
        has = ~np.isnan(t.prev_x[d])
        assert self.spec.spike is not None  # noqa: S101 - checked by the caller
        flags = spike_flags(
            t.prev_x[d][has], t.last_x[d][has], xs[has], self.spec.spike, self.method
        )
        self._mark(d[has], np.full(int(has.sum()), -1), flags, self.spike)

    def _flat_line(self, d: Int32Array, xs: Float64Array) -> UInt8Array:
        t = self.track
        assert self.spec.flat_line is not None  # noqa: S101 - checked by the caller
        suspect_s, fail_s, tolerance = self.spec.flat_line
        low, high = np.fmin(t.run_lo[d], xs), np.fmax(t.run_hi[d], xs)
        extend = (t.run_len[d] > 0) & (high - low < tolerance)
        t.run_lo[d], t.run_hi[d] = np.where(extend, low, xs), np.where(extend, high, xs)
        t.run_len[d] = np.where(extend, t.run_len[d] + 1, 1)
        t.run_flagged[d] &= extend
        # ioos_qc: window = threshold // median interval samples before the reading, plus it
        interval = _median_interval(t.ring_t[d])
        with np.errstate(invalid="ignore", divide="ignore"):
            need_suspect = np.maximum(np.floor(suspect_s / interval), 2) + 1
            need_fail = np.maximum(np.floor(fail_s / interval), 2) + 1
        length = t.run_len[d]
        flags = np.where(length >= need_suspect, SUSPECT, PASS)
        flags = np.where(length >= need_fail, FAIL, flags).astype(np.uint8)
        start = (length >= need_suspect) & ~t.run_flagged[d]
        self._revise_run(d[start], length[start])
        t.run_flagged[d[start]] = True
        return flags

    def _revise_run(self, d: Int32Array, length: Int64Array) -> None:
        """SUSPECT for the earlier members of runs that just became flat lines."""
        width = self.track.ring_t.shape[1]
        columns = np.arange(width - 1)
        member = columns >= (width - np.minimum(length, width))[:, None]
        which, column = np.nonzero(member)
        self._mark(d[which], column, np.full(which.size, SUSPECT, np.uint8), self.flat)

    def _mark(
        self, d: Int32Array, column: Int64Array, flags: UInt8Array, target: UInt8Array
    ) -> None:
        """Combine ``flags`` into ring entries: in this batch into ``target``, else revise."""
        t = self.track
        rows = t.ring_row[d, column]
        here = rows >= 0
        target[rows[here]] = combine(target[rows[here]], flags[here])
        d, column, flags = d[~here], column[~here], flags[~here]
        old = t.ring_flag[d, column]
        new = combine(old, flags)
        t.ring_flag[d, column] = new
        changed = new != old
        self.revised.append((self.name, d[changed], t.ring_t[d, column][changed], new[changed]))


def _median_interval(ring_t: Int64Array) -> Float64Array:
    """Median time between the readings of each ring row, in seconds (NaN: fewer than two)."""
    valid = ring_t[:, :-1] != _NEVER
    return _row_median(
        np.where(valid, (ring_t[:, 1:] - np.where(valid, ring_t[:, :-1], 0)) / 1e9, np.nan)
    )


def _row_median(values: Float64Array) -> Float64Array:
    """Median of each row's non-NaN values; NaN for a row without any."""
    ordered = np.sort(values, axis=1)  # NaN last
    n = (~np.isnan(values)).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.minimum(n // 2, values.shape[1] - 1)[:, None], axis=1)[
        :, 0
    ]
    return np.where(n > 0, (low + high) / 2.0, np.nan)


class QualityChecker:
    """QARTOD flags for batches of readings of any kind; rows in any order, devices mixed.

    ``empty_mm`` is the empty-bin distance per device code (``Registry.empty_mm``).
    """

    def __init__(
        self, config: QualityConfig | None = None, empty_mm: Float64Array | None = None
    ) -> None:
        self.config = config or QualityConfig()
        _validate(self.config)
        self._empty_mm = np.asarray([] if empty_mm is None else empty_mm, dtype=np.float64)
        self._tracks: dict[tuple[Kind, str], _Track] = {}

    def use_empty_mm(self, empty_mm: Float64Array) -> None:
        """The empty-bin distances of a reloaded registry (codes of known devices unchanged)."""
        self._empty_mm = np.asarray(empty_mm, dtype=np.float64)

    def check(
        self,
        kind: Kind,
        device: Int32Array,
        time_ns: Int64Array,
        values: Mapping[str, Float64Array],
        qc: Mapping[str, UInt8Array],
    ) -> QcResult:
        """Flags per field of ``values`` (combined with the incoming ``qc``) and revisions."""
        specs, limits = self.config.fields.get(kind, {}), fields_of(kind)
        empty = np.r_[self._empty_mm, np.nan][np.minimum(device, self._empty_mm.size)]
        cross = cross_field(kind, values, empty, self.config.cross)
        revised: list[_Revision] = []
        flags: dict[str, UInt8Array] = {}
        for name, x in values.items():
            parts = [_incoming(qc.get(name), x), cross.get(name, _incoming(None, x))]
            spec = specs.get(name)
            if spec is not None:
                span = spec.fail_span or (limits[name].low, limits[name].high)
                parts.append(gross_range(x, span, spec.suspect_span))
                if spec.climatology is not None:
                    parts.append(climatology(x, time_ns, spec.climatology))
                parts += self._sequence(
                    (kind, name), spec, device=device, time_ns=time_ns, x=x, revised=revised
                )
            flags[name] = np.where(np.isnan(x), MISSING, combine(*parts)).astype(np.uint8)
            if (kind, name) in self._tracks:
                self._tracks[kind, name].settle(np.unique(device), flags[name])
        if "fill_pct" in flags and "distance_mm" in flags:
            flags["fill_pct"] = combine(flags["fill_pct"], flags["distance_mm"])
        return QcResult(flags, _revision_points(kind, revised))

    def snapshot(self) -> bytes:
        """The whole state as an ``.npz`` archive."""
        arrays = {"meta:history": np.array(self.config.history)}
        for (kind, name), track in self._tracks.items():
            arrays.update({f"{kind}:{name}:{k}": v for k, v in track.state().items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot taken with the same ``history``."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if int(arrays.pop("meta:history")) != self.config.history:
            raise ConfigError(
                "processors.quality.history",
                "differs from the snapshot's",
                "restore with the history it was taken with, or start without the snapshot",
            )
        self._tracks = {}
        for key, array in arrays.items():
            kind, name, column = key.split(":")
            track = self._tracks.setdefault((Kind(kind), name), _Track.empty(self.config.history))
            setattr(track, column, array)
        for track in self._tracks.values():
            track.ring_row = np.full(track.ring_t.shape, -1, dtype=np.int64)

    def _sequence(
        self,
        key: tuple[Kind, str],
        spec: FieldQc,
        *,
        device: Int32Array,
        time_ns: Int64Array,
        x: Float64Array,
        revised: list[_Revision],
    ) -> list[UInt8Array]:
        """Spike, rate-of-change and flat-line flags, one rank of readings per device at a time."""
        if spec.spike is None and spec.rate_of_change is None and spec.flat_line is None:
            return []
        track = self._tracks.setdefault(key, _Track.empty(self.config.history))
        track.reserve(int(device.max(initial=-1)) + 1)
        missing = np.full(x.size, MISSING, dtype=np.uint8)
        flags = (missing, missing.copy(), missing.copy())
        run = _Pass(track, spec, self.config.spike_method, key[1], *flags, revised)
        rows = np.flatnonzero(~np.isnan(x))
        rows = rows[np.lexsort((time_ns[rows], device[rows]))]
        rank = np.arange(rows.size) - block_starts(device[rows])
        for r in range(int(rank.max(initial=-1)) + 1):
            run.step(rows[rank == r], device, time_ns, x)
        return list(flags)


def _incoming(qc: UInt8Array | None, x: Float64Array) -> UInt8Array:
    """Validation's flags, or PASS/MISSING where it gave none."""
    if qc is not None:
        return np.asarray(qc, dtype=np.uint8)
    return np.where(np.isnan(x), MISSING, PASS).astype(np.uint8)


def _revision_points(kind: Kind, revised: list[_Revision]) -> Points:
    """Revised flags as points holding only ``<field>_qc`` (ABSENT_INT: unchanged)."""
    parts = [part for part in revised if part[1].size]
    if not parts:
        return Points(kind.value, np.empty(0, np.int32), np.empty(0, np.int64), {})
    device = np.concatenate([p[1] for p in parts]).astype(np.int64)
    time_ns = np.concatenate([p[2] for p in parts])
    keys, inverse = np.unique(np.stack([device, time_ns]), axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    columns: dict[str, Int64Array] = {}
    offset = 0
    for name, _, _, new in parts:  # in order: a later revision of a reading includes the earlier
        column = columns.setdefault(f"{name}_qc", np.full(keys.shape[1], ABSENT_INT, np.int64))
        column[inverse[offset : offset + new.size]] = new
        offset += new.size
    if "distance_mm_qc" in columns:
        columns["fill_pct_qc"] = columns["distance_mm_qc"].copy()
    return Points(kind.value, keys[0].astype(np.int32), keys[1], dict(columns))


def _validate(config: QualityConfig) -> None:
    """``ConfigError`` for thresholds the tests cannot use."""
    if config.history < 3:
        raise ConfigError("processors.quality.history", f"is {config.history}", "use 3 or more")
    for kind, specs in config.fields.items():
        limits = fields_of(kind)
        for name, spec in specs.items():
            key = f"processors.quality.{kind}.{name}"
            if name not in limits:
                raise ConfigError(
                    key, "is not a field of the kind", f"use one of {', '.join(limits)}"
                )
            _check_spec(key, spec, (limits[name].low, limits[name].high))


def _check_spec(key: str, spec: FieldQc, physical: tuple[float, float]) -> None:
    fail = spec.fail_span or physical
    pairs = {"fail_span": fail, "suspect_span": spec.suspect_span, "spike": spec.spike}
    if spec.flat_line is not None:
        pairs["flat_line"] = spec.flat_line[:2]
    for name, pair in pairs.items():
        if pair is not None and not pair[0] <= pair[1]:
            raise ConfigError(
                f"{key}.{name}", f"{pair} is not (low, high)", "put the smaller first"
            )
    span = spec.suspect_span
    if span is not None and not fail[0] <= span[0] <= span[1] <= fail[1]:
        # ioos_qc refuses a suspect span outside the fail span
        raise ConfigError(
            f"{key}.suspect_span", f"{span} leaves {fail}", "keep it inside fail_span"
        )
    if spec.climatology is not None and len(spec.climatology) != 12:
        raise ConfigError(
            f"{key}.climatology", "needs 12 monthly ranges", "give January to December"
        )
