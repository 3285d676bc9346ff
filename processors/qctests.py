"""QARTOD point tests and their thresholds: pure, vectorised functions of a batch's columns.

Tests (IOOS QARTOD as ioos_qc computes them; domain notes §4.2) flag each reading per field:
PASS 1, NOT_EVALUATED 2, SUSPECT 3, FAIL 4, MISSING 9 (NaN). Point tests: gross range (outside
the operator span SUSPECT, outside the sensor span FAIL), optional monthly climatology (UTC
months) and cross-field tests (PM2.5 above PM10, PM in fog, bin distance beyond the empty depth
or inside the blind zone, tilt). Flags of several tests are combined in ioos_qc
``qartod_compare`` order (``combine``). Thresholds: ``QualityConfig``. The sequence tests that
use ``spike_flags`` keep their state in ``processors.qctracks``.

Spike reference: ioos_qc compares a reading with the mean of its neighbours, so a large spike's
two neighbours score half its height and are flagged SUSPECT as well (domain notes §4.3; in a
simulated city that makes two false flags per spike). ``SpikeMethod.PEAK``, the default, scores
a reading only when it stands above (or below) both neighbours, by the smaller difference: a
lone spike is flagged, its neighbours and the first reading of a step change are not.
``SpikeMethod.MEAN`` keeps ioos_qc's reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Final

import numpy as np

from ingest.errors import ConfigError
from ingest.model import Kind
from ingest.schema import fields_of
from processors.base import (
    FAIL,
    MISSING,
    SETTINGS,
    Float64Array,
    Int64Array,
    UInt8Array,
)

__all__ = [
    "DEFAULT_FIELDS",
    "NOT_EVALUATED",
    "PASS",
    "SUSPECT",
    "CrossQc",
    "FieldQc",
    "QualityConfig",
    "SpikeMethod",
    "climatology",
    "combine",
    "count_flags",
    "cross_field",
    "gross_range",
    "spike_flags",
    "validate_config",
]

# QARTOD flag values (ioos_qc ``QartodFlags``); FAIL and MISSING come from processors.base.
PASS: Final = 1
NOT_EVALUATED: Final = 2
SUSPECT: Final = 3
_H: Final = 3600.0


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


def validate_config(config: QualityConfig) -> None:
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
