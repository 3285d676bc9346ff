"""Device health per UTC hour (``device_health``, contract §4) and the alerts ``silent``,
``battery_low`` and ``sensor_fault``, from the link data and QC counts of every uplink.

Per device and hour: ``uplinks`` (frame-counter repeats excluded), ``missed`` (frames lost,
from fCnt gaps, counted in the hour of the uplink that reveals the gap), ``rssi_mean``,
``battery_v`` (mean), ``qc_suspect`` / ``qc_fail`` (field values flagged SUSPECT / FAIL) and
``silent``: at some instant of the hour the device had sent nothing for ``silent_after`` times
its interval (the median of its recent gaps). Every device seen is reported every hour from its
first uplink on, also hours without uplinks, up to the newest event time seen.

Frame counters (uplink formats §5.1): ``delta = f_cnt - last``; 0 → a repeat (retransmission,
not counted); 1..16384 → delta - 1 missed; otherwise a 16-bit rollover when ``last`` is a
16-bit value and ``f_cnt + 65536 - last`` is in 1..16384, else a reset (rejoin, reboot): the
series restarts and nothing is counted missed. ``last`` is the counter of the device's newest
uplink by time: an uplink older than that (out of order, a replay) counts as an uplink and takes
no part in gaps. Unknown counters (KPN SenML, ``-1``) count as uplinks only.

Hours are emitted once, when the watermark (newest event time minus ``lateness_s``) passes their
end; an uplink for an hour already emitted leaves on the ``late`` output. Alerts are sent at the
first hour of an episode: ``silent`` while consecutive hours are silent; ``battery_low`` from the
hour the mean voltage drops below ``battery_low_v`` until it is back at ``battery_ok_v``;
``sensor_fault`` from the hour where at least ``fault_on`` FAIL values per uplink arrive until
fewer than ``fault_off`` do (hysteresis: one alert per episode, not per uplink).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from ingest.errors import ConfigError
from processors.base import (
    BoolArray,
    Batch,
    Float64Array,
    Int32Array,
    Int64Array,
    Outputs,
    Points,
    alert_points,
)
from processors.episodes import block_starts, last_index, previous
from processors.partials import group, pack, reduce_rows, unpack
from processors.windows import Arrays, EventClock, WindowStore

__all__ = ["HealthConfig", "HealthProcessor", "LinkBatch", "count_missed"]

MAX_FCNT_GAP: Final = 16384  # LoRaWAN 1.0.x MAX_FCNT_GAP (uplink formats §5.1)
_ROLLOVER: Final = 1 << 16  # counters that travel as 16 bits wrap here (FHDR FCnt, 2 bytes)
_HOUR: Final = 3_600 * 10**9
_NEVER: Final = np.iinfo(np.int64).min
_GAPS: Final = 8  # recent gaps per device whose median is its interval
_FIELDS: Final = ("uplinks", "missed", "rssi", "battery_v", "qc_suspect", "qc_fail", "quiet", "last")


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Settings of the health processor; thresholds are design choices."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    lateness_s: float = 600.0
    silent_after: float = 3.0  # intervals without an uplink
    default_interval_s: float = 3600.0  # until a device has shown its own
    battery_low_v: float = 3.2  # a 3.6 V lithium cell's discharge plateau has ended
    battery_ok_v: float = 3.3
    fault_on: float = 0.5  # FAIL values per uplink in an hour
    fault_off: float = 0.1


@dataclass(frozen=True, slots=True)
class LinkBatch:
    """One row per uplink: link data and how many of its fields QC flagged."""

    device: Int32Array
    time_ns: Int64Array
    f_cnt: Int64Array  # -1: unknown
    rssi: Float64Array  # dBm, best gateway; NaN: unknown
    battery_v: Float64Array  # NaN: not reported
    qc_suspect: Int64Array
    qc_fail: Int64Array

    def batch(self) -> Batch:
        """As the processors' ``Batch`` (what ``HealthProcessor.process`` takes)."""
        columns = ("f_cnt", "rssi", "battery_v", "qc_suspect", "qc_fail")
        values = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in columns}
        return Batch(self.device, self.time_ns, values)


def count_missed(last: Int64Array, f_cnt: Int64Array) -> tuple[Int64Array, BoolArray]:
    """Frames lost between counter ``last`` and ``f_cnt`` (-1: unknown), and which are repeats."""
    known = (last >= 0) & (f_cnt >= 0)
    wrapped = f_cnt + _ROLLOVER - last
    rollover = (last < _ROLLOVER) & (f_cnt < last) & (wrapped >= 1) & (wrapped <= MAX_FCNT_GAP)
    delta = np.where(rollover, wrapped, f_cnt - last)
    normal = known & (delta >= 1) & (delta <= MAX_FCNT_GAP)
    return np.where(normal, delta - 1, 0).astype(np.int64), known & (delta == 0)
