"""Columnar batches that flow between decoding, validation, processing and the sinks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ingest.errors import PayloadError
from ingest.model import Kind, Uplink

__all__ = ["DecodedBatch", "Decoder", "FloatColumn", "IntColumn"]

FloatColumn = npt.NDArray[np.float64]
IntColumn = npt.NDArray[np.int64]


@dataclass(slots=True)
class DecodedBatch:
    """What a decoder made of a batch of uplinks of one kind.

    One reading per row; ``rows[i]`` is the index (into the decoder's input) of the uplink that
    reading came from. An uplink usually gives one row; a SenML pack with records at several
    times gives one row per distinct time. A field the device did not report is NaN. Uplinks that
    failed to decode appear in ``errors`` and in no row.
    """

    rows: IntColumn
    time_ns: IntColumn
    columns: dict[str, FloatColumn]
    errors: list[tuple[int, PayloadError]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.rows.shape[0])


class Decoder(Protocol):
    """Turns uplinks of one kind into columns of schema fields (``ingest.schema``)."""

    def decode(self, uplinks: Sequence[Uplink], kind: Kind) -> DecodedBatch:
        """Decode every uplink; failures go to ``errors``, never raise for one bad uplink."""
        ...
