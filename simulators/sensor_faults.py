"""Sensor faults the simulator injects (``--faults``): odd values that are still written and
that QC should flag, or a dropout: nothing sent for a while. Malformed messages and duplicates
are in ``simulators.faults``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

from ingest.model import Device, Kind
from ingest.schema import fields_of

__all__ = ["Affliction", "SensorFault", "SensorFaults", "parse_fault_spec"]


class SensorFault(StrEnum):
    """A sensor misbehaving (``--faults``): readings are still written and QC should flag them;
    a dropout sends nothing. Declaration order is the order of the draw."""

    STUCK = "stuck"  # one field repeats the value it had at the episode's first reading
    SPIKE = "spike"  # one reading of one field jumps (a glitch) and the next is normal again
    DRIFT = "drift"  # one field's offset grows linearly from the episode's start
    DROPOUT = "dropout"  # nothing arrives (frames lost); marked on the first uplink after it
    OUT_OF_RANGE = "out_of_range"  # outside the field's physical range: written with _qc = 4
    PM_INVERSION = "pm_inversion"  # air: the PM10 channel reads below PM2.5
    FOG = "fog"  # air: humidity near saturation, optical PM over-reads (hygroscopic growth)


_HOUR_NS: Final = 3_600 * 10**9
# Out-of-range values every decoder of the kind can still carry (ingest.schema ranges).
_OUT_OF_RANGE: Final[Mapping[Kind, tuple[str, float, float]]] = {
    Kind.AIR: ("humidity", 105.0, 125.0),  # %RH above 100; LPP humidity carries up to 127.5
    Kind.NOISE: ("lamax", 142.0, 160.0),  # dB(A) above 140
    Kind.WASTE: ("distance_mm", 7600.0, 9000.0),  # beyond the 7500 mm the LDDS75 can range
}


def parse_fault_spec(spec: str) -> dict[SensorFault, float]:
    """``name=fraction,...`` as a mapping; ``ValueError`` naming the bad part and the fix."""
    faults: dict[SensorFault, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, number = part.partition("=")
        try:
            fault = SensorFault(name.strip())
        except ValueError:
            known = ", ".join(f.value for f in SensorFault)
            msg = f"unknown fault {name.strip()!r} in {spec!r}; known faults: {known}"
            raise ValueError(msg) from None
        try:
            fraction = float(number) if sep else float("nan")
        except ValueError:
            fraction = float("nan")
        if not 0.0 <= fraction <= 1.0:
            msg = f"fault {fault}: expected {fault}=FRACTION with FRACTION in [0, 1], got {part!r}"
            raise ValueError(msg)
        faults[fault] = fraction
    return faults


# Episode lengths in hours (design choices): a stuck or drifting sensor stays so until someone
# visits it; fog lasts a few hours of a night; a dropout (gateway outage, blocked antenna) hours.
_EPISODE_HOURS: Final[Mapping[SensorFault, tuple[float, float]]] = {
    SensorFault.STUCK: (12.0, 48.0),
    SensorFault.DRIFT: (12.0, 48.0),
    SensorFault.FOG: (1.0, 4.0),
    SensorFault.DROPOUT: (1.0, 6.0),
}
_AIR_ONLY: Final = frozenset({SensorFault.PM_INVERSION, SensorFault.FOG})
# Spike sizes (low, high, upward only) in the field's unit: a glitch several times the field's
# natural 10-minute variability, kept inside its physical range (design choice).
_SPIKES: Final[Mapping[Kind, Mapping[str, tuple[float, float, bool]]]] = {
    Kind.AIR: {
        "pm25": (150.0, 600.0, True),
        "pm10": (150.0, 600.0, True),
        "no2": (150.0, 400.0, True),
        "o3": (150.0, 300.0, True),
        "temperature": (8.0, 20.0, False),
        "humidity": (20.0, 40.0, False),
        "pressure": (15.0, 40.0, False),
    },
    Kind.NOISE: {"laeq": (20.0, 40.0, True)},
    Kind.WASTE: {"temperature": (8.0, 20.0, False)},
}
# Drift per hour (low, high; either sign) of the fields that can drift or get stuck. Far faster
# than real sensor ageing (weeks), so that a day's run shows it. Bin distances are left out:
# their flat-line window is 7 days (domain notes §4.2), longer than a simulated run.
_DRIFTS: Final[Mapping[Kind, Mapping[str, tuple[float, float]]]] = {
    Kind.AIR: {
        "pm25": (0.5, 1.5),
        "pm10": (0.7, 2.0),
        "no2": (1.0, 3.0),
        "o3": (1.0, 3.0),
        "temperature": (0.1, 0.3),
        "humidity": (0.5, 1.5),
        "pressure": (0.2, 0.5),
    },
    Kind.NOISE: {"laeq": (0.1, 0.3), "lamax": (0.1, 0.3), "lamin": (0.1, 0.3)},
    Kind.WASTE: {"temperature": (0.1, 0.3)},
}
_FOG_RH: Final = (96.0, 100.0)
_KAPPA: Final = (0.2, 0.4)  # bulk hygroscopicity of urban aerosol (domain notes §1.5)
_RH_CAP: Final = 95.0  # the growth factor diverges at saturation (domain notes §1.5)


@dataclass(frozen=True, slots=True)
class Affliction:
    """A report's values after its fault (None: healthy; DROPOUT: the report is not sent)."""

    values: dict[str, float]
    fault: SensorFault | None


@dataclass(frozen=True, slots=True)
class _Episode:
    fault: SensorFault
    start_ns: int
    until_ns: int
    field: str
    amount: float  # stuck: the frozen value; drift: change per hour; fog: hygroscopicity κ


class SensorFaults:
    """The sensor faults of every report, drawn from ``rng`` (same seed, same faults).

    ``fractions`` are of a device's reports. Single-reading faults (spike, out_of_range,
    pm_inversion) hit a report with that probability; an episode (stuck, drift, fog, dropout)
    starts at a report with probability fraction x interval / mean episode length, so that in
    the long run about that fraction of reports lie inside episodes. A device has one fault at a
    time, and none on its first uplink after a dropout (that uplink carries the ``dropout``
    mark). pm_inversion (swapped PM channels) and fog affect air sensors only.
    """

    def __init__(self, fractions: Mapping[SensorFault, float], rng: np.random.Generator) -> None:
        self._fractions = {f: fractions.get(f, 0.0) for f in SensorFault}
        self._rng = rng
        self._episodes: dict[int, _Episode] = {}
        self._resumed: set[int] = set()

    def apply(
        self, device: Device, interval_ns: int, time_ns: int, values: Mapping[str, float]
    ) -> Affliction:
        """The values ``device`` reports at ``time_ns`` (reports in time order per device)."""
        episode = self._episodes.get(device.code)
        if episode is not None and time_ns >= episode.until_ns:
            del self._episodes[device.code]
            if episode.fault is SensorFault.DROPOUT:
                self._resumed.add(device.code)
            episode = None
        if episode is None and device.code not in self._resumed:
            fault = self._draw(device.kind, interval_ns)
            if fault is not None and fault in _EPISODE_HOURS:
                episode = self._start(fault, device.kind, time_ns, values)
                self._episodes[device.code] = episode
            elif fault is not None:
                return Affliction(self._single(fault, device.kind, values), fault)
        if episode is None:
            return Affliction(dict(values), None)
        return Affliction(self._during(episode, device.kind, time_ns, values), episode.fault)

    def resumed(self, code: int) -> bool:
        """Whether an uplink of device ``code`` is its first since a dropout (asked once)."""
        if code not in self._resumed:
            return False
        self._resumed.discard(code)
        return True

    def _draw(self, kind: Kind, interval_ns: int) -> SensorFault | None:
        draw = self._rng.random()
        for fault, fraction in self._fractions.items():
            if fraction == 0.0 or (fault in _AIR_ONLY and kind is not Kind.AIR):
                continue
            hours = _EPISODE_HOURS.get(fault)
            draw -= fraction * (interval_ns / (sum(hours) / 2 * _HOUR_NS) if hours else 1.0)
            if draw < 0.0:
                return fault
        return None

    def _start(
        self, fault: SensorFault, kind: Kind, time_ns: int, values: Mapping[str, float]
    ) -> _Episode:
        rng = self._rng
        until = time_ns + int(rng.uniform(*_EPISODE_HOURS[fault]) * _HOUR_NS)
        if fault is SensorFault.FOG:
            return _Episode(fault, time_ns, until, "humidity", rng.uniform(*_KAPPA))
        if fault is SensorFault.DROPOUT:
            return _Episode(fault, time_ns, until, "", 0.0)
        name = self._pick(_DRIFTS[kind], values)
        if fault is SensorFault.STUCK:
            return _Episode(fault, time_ns, until, name, values[name])
        rate = rng.uniform(*_DRIFTS[kind][name]) * (1.0 if rng.random() < 0.5 else -1.0)
        return _Episode(fault, time_ns, until, name, rate)

    def _during(
        self, episode: _Episode, kind: Kind, time_ns: int, values: Mapping[str, float]
    ) -> dict[str, float]:
        out, name = dict(values), episode.field
        if episode.fault is SensorFault.STUCK:
            out[name] = episode.amount
        elif episode.fault is SensorFault.DRIFT:
            hours = (time_ns - episode.start_ns) / _HOUR_NS
            out[name] = _inside(kind, name, values[name] + episode.amount * hours)
        elif episode.fault is SensorFault.FOG:
            humidity = self._rng.uniform(*_FOG_RH)
            growth = _growth(min(humidity, _RH_CAP), episode.amount)
            out["humidity"] = humidity
            for pm in ("pm25", "pm10"):
                out[pm] = _inside(kind, pm, values[pm] * growth)
        return out

    def _single(
        self, fault: SensorFault, kind: Kind, values: Mapping[str, float]
    ) -> dict[str, float]:
        rng, out = self._rng, dict(values)
        if fault is SensorFault.OUT_OF_RANGE:
            name, low, high = _OUT_OF_RANGE[kind]
            out[name] = float(rng.uniform(low, high))
        elif fault is SensorFault.PM_INVERSION:
            out["pm25"], out["pm10"] = values["pm10"], values["pm25"]
        else:
            name = self._pick(_SPIKES[kind], values)
            low, high, upward = _SPIKES[kind][name]
            size = rng.uniform(low, high)
            up = (upward or rng.random() < 0.5) and values[name] + size <= fields_of(kind)[
                name
            ].high
            out[name] = _inside(kind, name, values[name] + (size if up else -size))
        return out

    def _pick(self, table: Mapping[str, object], values: Mapping[str, float]) -> str:
        names = [name for name in table if name in values]
        return names[int(self._rng.integers(len(names)))]


def _growth(humidity: float, kappa: float) -> float:
    """κ-Köhler mass growth factor of particles at ``humidity`` %RH (Crilley et al. 2018; domain
    notes §1.5): C = 1 + (κ / 1.65) / (1 / a_w − 1), a_w = RH / 100."""
    return 1.0 + (kappa / 1.65) / (100.0 / humidity - 1.0)


def _inside(kind: Kind, name: str, value: float) -> float:
    """``value`` clipped to the physical range of field ``name``."""
    spec = fields_of(kind)[name]
    return min(max(value, spec.low), spec.high)
