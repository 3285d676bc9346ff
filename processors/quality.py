"""QARTOD quality flags per reading and field, with a bounded history per device and field.

Per batch, ``QualityChecker`` runs the point tests (gross range, climatology, cross-field;
``processors.qctests``, thresholds in ``QualityConfig``) and the sequence tests over one
device's readings of a field in time order (spike, rate of change, flat line;
``processors.qctracks``, which also revises flags of readings written earlier). A reading's
flags and validation's range flag are combined in ioos_qc ``qartod_compare`` order
(``combine``).

Consequence of revisions: the stored flag of a reading can change after it was written, until
its successor (spike) or the end of its flat run (flat line) has been seen. A replay of an old
reading is re-written with point-test flags only, so it can lower a revised flag.

A reading not newer than the newest one checked for its device and field (a replay) gets the
point tests only (sequence tests NOT_EVALUATED) and stays out of the history. ``fill_pct`` is
derived from ``distance_mm`` and carries its flag.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ingest.errors import ConfigError
from ingest.model import Kind
from ingest.schema import fields_of
from processors.base import (
    ABSENT_INT,
    MISSING,
    Float64Array,
    Int32Array,
    Int64Array,
    Points,
    UInt8Array,
)
from processors.episodes import block_starts
from processors.qctests import (
    PASS,
    FieldQc,
    QualityConfig,
    climatology,
    combine,
    cross_field,
    gross_range,
    validate_config,
)
from processors.qctracks import Revision, SequencePass, Track

__all__ = ["QcResult", "QualityChecker"]


@dataclass(frozen=True, slots=True)
class QcResult:
    """Flags per field for the rows checked, and revised flags of readings checked earlier."""

    flags: dict[str, UInt8Array]
    revised: Points


class QualityChecker:
    """QARTOD flags for batches of readings of any kind; rows in any order, devices mixed.

    ``empty_mm`` is the empty-bin distance per device code (``Registry.empty_mm``).
    """

    def __init__(
        self, config: QualityConfig | None = None, empty_mm: Float64Array | None = None
    ) -> None:
        self.config = config or QualityConfig()
        validate_config(self.config)
        self._empty_mm = np.asarray([] if empty_mm is None else empty_mm, dtype=np.float64)
        self._tracks: dict[tuple[Kind, str], Track] = {}

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
        revised: list[Revision] = []
        flags: dict[str, UInt8Array] = {}
        for name, x in values.items():
            parts = [_incoming(qc.get(name), x), cross.get(name, _incoming(None, x))]
            spec, run = specs.get(name), None
            if spec is not None:
                span = spec.fail_span or (limits[name].low, limits[name].high)
                parts.append(gross_range(x, span, spec.suspect_span))
                if spec.climatology is not None:
                    parts.append(climatology(x, time_ns, spec.climatology))
                run = self._sequence(
                    (kind, name), spec, device=device, time_ns=time_ns, x=x, revised=revised
                )
                parts += [] if run is None else [run.spike, run.roc, run.flat]
            flags[name] = np.where(np.isnan(x), MISSING, combine(*parts)).astype(np.uint8)
            if run is not None:
                run.settle(flags[name])
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
        columns: dict[tuple[Kind, str], dict[str, np.ndarray]] = {}
        for key, array in arrays.items():
            kind, name, column = key.split(":")
            columns.setdefault((Kind(kind), name), {})[column] = array
        history = self.config.history
        self._tracks = {key: Track.restored(history, state) for key, state in columns.items()}

    def _sequence(
        self,
        key: tuple[Kind, str],
        spec: FieldQc,
        *,
        device: Int32Array,
        time_ns: Int64Array,
        x: Float64Array,
        revised: list[Revision],
    ) -> SequencePass | None:
        """Spike, rate-of-change and flat-line flags, one rank of readings per device at a time."""
        if spec.spike is None and spec.rate_of_change is None and spec.flat_line is None:
            return None
        track = self._tracks.setdefault(key, Track.empty(self.config.history))
        rows = np.flatnonzero(~np.isnan(x))
        rows = rows[np.lexsort((time_ns[rows], device[rows]))]
        slot = np.full(x.size, -1, dtype=np.int64)
        slot[rows] = track.rows_of(device[rows])
        missing = np.full(x.size, MISSING, dtype=np.uint8)
        flags = (missing, missing.copy(), missing.copy())
        run = SequencePass(
            track, spec, self.config.spike_method, key[1], *flags, revised, np.unique(slot[rows])
        )
        rank = np.arange(rows.size) - block_starts(device[rows])
        for r in range(int(rank.max(initial=-1)) + 1):
            run.step(rows[rank == r], slot, time_ns, x)
        return run


def _incoming(qc: UInt8Array | None, x: Float64Array) -> UInt8Array:
    """Validation's flags, or PASS/MISSING where it gave none."""
    if qc is not None:
        return np.asarray(qc, dtype=np.uint8)
    return np.where(np.isnan(x), MISSING, PASS).astype(np.uint8)


def _revision_points(kind: Kind, revised: list[Revision]) -> Points:
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
