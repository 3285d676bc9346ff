"""Validation: physical-range flags and derived raw fields, vectorised per kind.

A value outside its field's physical range (``ingest.schema``) is kept with QARTOD flag 4
(FAIL); the other fields of the reading are unaffected. Flags follow the IOOS QARTOD scheme:
1 PASS, 3 SUSPECT, 4 FAIL, 9 MISSING. The full QC tests build on these flags later.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.model import Kind
from ingest.readings import FloatColumn, IntColumn
from ingest.registry import Registry
from ingest.schema import fields_of
from processors.base import Batch
from processors.waste import fill_percent

__all__ = ["QC_FAIL", "QC_MISSING", "QC_PASS", "QC_SUSPECT", "validate"]

# IOOS QARTOD flag values (QARTOD flag manual; ioos_qc QartodFlags)
QC_PASS = np.uint8(1)
QC_SUSPECT = np.uint8(3)
QC_FAIL = np.uint8(4)
QC_MISSING = np.uint8(9)

QcColumn = npt.NDArray[np.uint8]


def validate(
    kind: Kind,
    device: npt.NDArray[np.int32],
    time_ns: IntColumn,
    columns: dict[str, FloatColumn],
    registry: Registry,
) -> Batch:
    """Readings of ``kind`` as a processors ``Batch``: derived fields (waste fill %) added and
    every field flagged against its physical range."""
    columns = dict(columns)
    if kind is Kind.WASTE and "distance_mm" in columns:
        columns["fill_pct"] = fill_percent(
            columns["distance_mm"], registry.empty_mm[device], registry.full_mm[device]
        )
    spec = fields_of(kind)
    qc = {
        name: _range_flags(values, spec[name].low, spec[name].high)
        for name, values in columns.items()
    }
    if "fill_pct" in qc:  # a fill level is only as good as the distance it comes from
        distance = qc["distance_mm"]
        doubtful = (distance == QC_SUSPECT) | (distance == QC_FAIL)
        qc["fill_pct"] = np.where(doubtful, np.maximum(qc["fill_pct"], distance), qc["fill_pct"])
    return Batch(device, time_ns, columns, qc)


def _range_flags(values: FloatColumn, low: float, high: float) -> QcColumn:
    flags = np.full(values.shape, QC_PASS, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        flags[(values < low) | (values > high)] = QC_FAIL
    flags[np.isnan(values)] = QC_MISSING
    return flags
