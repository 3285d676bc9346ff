"""Vectorised windowed processors: numpy columns in, InfluxDB points out (no I/O, no clock).

One processor per kind: ``AirProcessor`` (``air_1h``, ``air_exceedance``), ``NoiseProcessor``
(``noise_1h``, ``noise_1d``, ``noise_exceedance``) and ``WasteProcessor`` (``waste_state``,
``bin_full``, ``fire``). Each takes a ``Batch`` and returns ``Outputs``.
"""

from processors.air_index import AirConfig, AirProcessor
from processors.base import Batch, Outputs, Points, Processor
from processors.noise import NoiseConfig, NoiseProcessor
from processors.waste import WasteConfig, WasteProcessor

__all__ = [
    "AirConfig",
    "AirProcessor",
    "Batch",
    "NoiseConfig",
    "NoiseProcessor",
    "Outputs",
    "Points",
    "Processor",
    "WasteConfig",
    "WasteProcessor",
]
