"""Vectorised windowed processors: numpy columns in, InfluxDB points out (no I/O, no clock).

One processor per kind: ``AirProcessor`` (``air_1h``, ``air_exceedance``), ``NoiseProcessor``
(``noise_1h``, ``noise_1d``, ``noise_exceedance``) and ``WasteProcessor`` (``waste_state``,
``bin_full``, ``fire``). Each takes a ``Batch`` and returns ``Outputs``.
"""
