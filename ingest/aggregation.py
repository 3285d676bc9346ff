"""The city's aggregates: one windowed processor per kind, fed with acknowledged readings.

Readings reach the processors only after the batch they came from is durable and acknowledged,
so a message redelivered after a restart was never folded in before: with the state saved on a
clean stop and restored on start, every acknowledged reading is counted exactly once. A crash
loses the open windows' state since the start (the raw points are safe; ``reaggregate``
rebuilds aggregates from them).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.errors import ConfigError
from ingest.lineprotocol import FieldType, LineSpec, escape_tag, format_lines
from ingest.model import Kind
from ingest.settings import ProcessorSettings
from ingest.transform import Links
from processors import AirProcessor, Batch, NoiseProcessor, Points, Processor, WasteProcessor
from processors.base import ABSENT_INT, MISSING, Float64Array
from processors.health import HealthProcessor, LinkBatch
from processors.quality import QualityChecker

__all__ = ["Aggregator", "points_lines"]

log = logging.getLogger(__name__)


class Aggregator:
    """The processors of every kind, their late-reading count and their saved state."""

    def __init__(self, settings: ProcessorSettings, empty_mm: Float64Array) -> None:
        self._processors: dict[Kind, Processor] = {
            Kind.AIR: AirProcessor(settings.air),
            Kind.NOISE: NoiseProcessor(settings.noise),
            Kind.WASTE: WasteProcessor(settings.waste),
        }
        self.health = HealthProcessor(settings.health)
        self.quality = QualityChecker(settings.quality, empty_mm)  # used by the transformer
        self._state_dir = settings.state_dir
        self.late = 0
        self._replayed: set[tuple[int, int]] = set()  # (device, time) rebuilt by ``replay``

    def process(
        self, readings: Iterable[tuple[Kind, Batch]], links: Iterable[Links] = ()
    ) -> list[Points]:
        """Fold readings into their windows and links into device health; the points of every
        window that closed or changed."""
        by_kind: dict[Kind, list[Batch]] = {}
        for kind, batch in readings:
            by_kind.setdefault(kind, []).append(batch)
        # One call per processor and call of ``process``: a batch holds several decoder groups
        # of a kind, and feeding them one after another would let the first advance the
        # watermark past readings of the next.
        work: list[tuple[Processor | HealthProcessor, Batch]] = [
            (self._processors[kind], self._fresh(_concatenated(batches)))
            for kind, batches in by_kind.items()
        ]
        blocks = [_link_batch(block).batch() for block in links]
        if blocks:
            work.append((self.health, self._fresh(_concatenated(blocks))))
        points: list[Points] = []
        for processor, batch in work:
            outputs = processor.process(batch)
            self.late += outputs.late_count
            points += outputs.points
        return points

    def replay(self, readings: list[tuple[Kind, Batch]], links: list[Links]) -> None:
        """Fold readings rebuilt from the database (a partition this replica just gained) and
        remember them until ``forget_replayed``: a later delivery of the same (device, time),
        which the previous owner wrote but did not acknowledge, is not counted twice."""
        self.process(readings, links)  # the windows' points are emitted by the next readings
        for _, batch in readings:
            self._replayed.update(zip(batch.device.tolist(), batch.time_ns.tolist(), strict=True))

    def forget_replayed(self) -> None:
        """The redeliveries are over: stop checking readings against the replayed ones."""
        self._replayed = set()

    def _fresh(self, batch: Batch) -> Batch:
        """The rows not already folded in by ``replay``."""
        if not self._replayed:
            return batch
        keys = zip(batch.device.tolist(), batch.time_ns.tolist(), strict=True)
        keep = np.fromiter((key not in self._replayed for key in keys), bool, len(batch))
        return batch if keep.all() else batch.take(keep)

    def flush(self, until_ns: int) -> list[Points]:
        """Advance every watermark to ``until_ns``: the windows that closes, emitted."""
        processors = [*self._processors.values(), self.health]
        return [point for p in processors for point in p.flush(until_ns).points]

    def _stateful(self) -> dict[str, Processor | HealthProcessor | QualityChecker]:
        return {
            **{k.value: p for k, p in self._processors.items()},
            "health": self.health,
            "quality": self.quality,
        }

    def load(self) -> None:
        """Restore the state saved by the last clean stop, if any and if it fits the config."""
        for kind, processor in self._stateful().items():
            path = self._path(kind)
            if not path.exists():
                continue
            try:
                processor.restore(path.read_bytes())
            except ConfigError as exc:
                log.warning(
                    "not restoring %s: %s; its open windows start empty (run "
                    "`city-ingest reaggregate` to rebuild them)",
                    path,
                    exc,
                )
            else:
                log.info("restored the %s processor's state from %s", kind, path)

    def save(self) -> None:
        """Write every processor's state atomically (temp file, fsync, rename)."""
        self._state_dir.mkdir(parents=True, exist_ok=True)
        for kind, processor in self._stateful().items():
            path = self._path(kind)
            temporary = path.with_suffix(".tmp")
            with temporary.open("wb") as handle:
                handle.write(processor.snapshot())
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(path)

    def _path(self, name: str) -> Path:
        return self._state_dir / f"{name}.npz"


def _concatenated(batches: list[Batch]) -> Batch:
    """One batch of all rows; a field missing from a part is NaN (value) and 9 (flag) there."""
    if len(batches) == 1:
        return batches[0]
    names = sorted({name for b in batches for name in b.values})
    flagged = sorted({name for b in batches for name in b.qc})
    return Batch(
        np.concatenate([b.device for b in batches]),
        np.concatenate([b.time_ns for b in batches]),
        {
            n: np.concatenate([b.values.get(n, np.full(len(b), np.nan)) for b in batches])
            for n in names
        },
        {
            n: np.concatenate(
                [b.qc.get(n, np.full(len(b), MISSING, dtype=np.uint8)) for b in batches]
            )
            for n in flagged
        },
    )


def _link_batch(links: Links) -> LinkBatch:
    f_cnt = np.where(np.isnan(links.f_cnt), -1, links.f_cnt).astype(np.int64)
    return LinkBatch(
        links.device,
        links.time_ns,
        f_cnt,
        links.rssi,
        links.battery_v,
        links.qc_suspect,
        links.qc_fail,
    )


def points_lines(points: Sequence[Points], device_tags: Sequence[str]) -> list[str]:
    """Line protocol for processor output; absent values (NaN, ``ABSENT_INT``, "") left out."""
    lines: list[str] = []
    for block in points:
        tags = [device_tags[code] for code in block.device.tolist()]
        for key, values in sorted((block.tags or {}).items()):
            tags = [
                f"{t},{escape_tag(key)}={escape_tag(str(v))}"
                for t, v in zip(tags, values, strict=True)
            ]
        fields = dict(_field_columns(block.fields))
        lines += [line for _, line in format_lines(block.measurement, tags, block.time_ns, fields)]
    return lines


def _field_columns(
    fields: Mapping[str, npt.NDArray[np.generic]],
) -> Iterable[tuple[LineSpec, npt.NDArray[np.generic] | list[str | None]]]:
    for name, values in fields.items():
        kind = values.dtype.kind
        if kind in "US":
            yield LineSpec(name, FieldType.STRING), [v or None for v in values.tolist()]
        elif kind == "b":
            yield LineSpec(name, FieldType.BOOL), values.astype(np.float64)
        elif kind in "iu":
            ints = values.astype(np.float64)
            ints[values == ABSENT_INT] = np.nan
            yield LineSpec(name, FieldType.INT), ints
        else:
            yield LineSpec(name, FieldType.FLOAT), values.astype(np.float64)
