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
from dataclasses import dataclass, fields

import numpy as np

from ingest.errors import ConfigError
from ingest.model import Kind
from processors.base import ABSENT_INT, MISSING, BoolArray, Float64Array, Int32Array, Int64Array
from processors.base import Points, UInt8Array
from processors.episodes import block_starts
from processors.qc_config import FieldQc, QualityConfig, SpikeMethod, check_config
