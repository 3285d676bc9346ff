"""The InfluxDB schema's raw fields (contract §4) with units and physical ranges.

A decoder yields values in these units; validation flags a value outside its field's physical
range with QARTOD flag 4 (FAIL) and keeps it (QARTOD manual flag scheme, see docs/schema.md).
The spans are the "fail_span" (sensor/physical limits) column of the QC starting thresholds in
the project's domain notes, widened where the sensor class allows more.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ingest.model import Kind

__all__ = ["FIELDS", "LINK_FIELDS", "Field", "fields_of"]


@dataclass(frozen=True, slots=True)
class Field:
    """One raw field: its name, unit, physical range and InfluxDB value type."""

    name: str
    unit: str
    low: float
    high: float
    boolean: bool = False


_AIR: Final = (
    Field("pm25", "µg/m³", 0.0, 1000.0),  # optical PM sensors: 0–1000 µg/m³ span
    Field("pm10", "µg/m³", 0.0, 1000.0),
    Field("no2", "µg/m³", 0.0, 2000.0),  # electrochemical NO2 cells: 0–1 ppm ≈ 1900 µg/m³
    Field("o3", "µg/m³", 0.0, 2000.0),
    Field("temperature", "°C", -40.0, 85.0),  # typical sensor operating span
    Field("humidity", "%RH", 0.0, 100.0),
    Field("pressure", "hPa", 300.0, 1100.0),  # barometric sensors' calibrated span
)
_NOISE: Final = (
    Field("laeq", "dB(A)", 20.0, 140.0),  # outside [20, 140] is implausible for street sensors
    Field("lamax", "dB(A)", 20.0, 140.0),
    Field("lamin", "dB(A)", 20.0, 140.0),
)
_WASTE: Final = (
    Field("distance_mm", "mm", 0.0, 7500.0),  # Dragino DDS75-LB range ends at 7500 mm
    Field("fill_pct", "%", 0.0, 100.0),
    Field("temperature", "°C", -40.0, 125.0),  # DS18B20 probe span (fire detection needs it)
    Field("tilt", "bool", 0.0, 1.0, boolean=True),
)

FIELDS: Final = MappingProxyType({Kind.AIR: _AIR, Kind.NOISE: _NOISE, Kind.WASTE: _WASTE})

LINK_FIELDS: Final = (Field("battery_v", "V", 0.0, 12.0),)


def fields_of(kind: Kind) -> dict[str, Field]:
    """The raw fields of ``kind`` plus the link fields a payload may carry, by name."""
    return {f.name: f for f in (*FIELDS[kind], *LINK_FIELDS)}
