"""Pseudonyms for citizen-hosted devices and coarsened locations (GDPR data minimisation).

A citizen-owned device's public name is ``citizen-`` + the first 16 hex digits of
HMAC-SHA256(pseudonym key, DevEUI): stable across restarts and registry edits, not reversible
without the key. Rotating the key gives every citizen device a new pseudonym from then on (old
series keep the old tag; see docs/privacy.md). Municipal devices keep their registry name.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from ingest.errors import ConfigError
from ingest.model import Device, Owner
from ingest.registry import Registry

__all__ = ["Pseudonymizer", "coarsen"]

_METRES_PER_DEGREE = 111_320.0  # length of one degree of latitude (WGS 84, mean)


class Pseudonymizer:
    """Public device names: registry names for municipal devices, HMAC pseudonyms otherwise."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @classmethod
    def for_registry(cls, registry: Registry, key: str | None) -> Pseudonymizer:
        if key is None and any(d.owner is Owner.CITIZEN for d in registry):
            raise ConfigError(
                "privacy.pseudonym_key",
                "the registry has citizen-owned devices but no key",
                "generate one (openssl rand -hex 32 > pseudonym.key) and set "
                "CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE to its path",
            )
        if key is not None and len(key) < 16:
            raise ConfigError(
                "privacy.pseudonym_key",
                "is shorter than 16 characters",
                "use a random key of at least 32 hex digits",
            )
        return cls(None if key is None else key.encode("utf-8"))

    def name(self, device: Device) -> str:
        if device.owner is Owner.MUNICIPAL or self._key is None:
            return device.device_id
        digest = hmac.new(self._key, device.dev_eui.encode("ascii"), hashlib.sha256)
        return f"citizen-{digest.hexdigest()[:16]}"


def coarsen(lat: float, lon: float, grid_m: float) -> tuple[float, float]:
    """Snap a position to the centre of its cell: ``grid_m`` tall, and ``grid_m`` wide at the
    cell's centre latitude, so that every point of a cell maps to the same centre."""
    lat_step = grid_m / _METRES_PER_DEGREE
    centre_lat = min(max((math.floor(lat / lat_step) + 0.5) * lat_step, -90.0), 90.0)
    lon_step = grid_m / (_METRES_PER_DEGREE * max(math.cos(math.radians(centre_lat)), 1e-6))
    centre_lon = (math.floor(lon / lon_step) + 0.5) * lon_step
    return centre_lat, (centre_lon + 180.0) % 360.0 - 180.0
