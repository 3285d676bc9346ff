"""Simulators for city-ingest: a seeded city of LoRaWAN sensors publishing realistic uplinks.

``city-ingest simulate`` (contract §6) is ``simulators.cli``; the stream of messages and its
manifest come from ``simulators.stream``, published by ``simulators.publisher``.
"""

__all__: list[str] = []
