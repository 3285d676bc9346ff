"""Identifiers and timestamps as network servers print them, drawn from a seeded generator."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Final

import numpy as np

__all__ = ["b64", "name_uuid", "random_uuid", "rfc3339", "ulid"]

# ULID spec (github.com/ulid/spec): Crockford's base32 alphabet, 48-bit ms time + 80 random bits.
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_CHARS: Final = 26
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_DNS, "simulator.city-ingest.invalid")


def rfc3339(time_ns: int, zone: str = "Z") -> str:
    """``time_ns`` as RFC 3339 UTC with nine fractional digits, as TTS and ChirpStack print it."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}{zone}"


def ulid(time_ns: int, rng: np.random.Generator) -> str:
    """A ULID for ``time_ns`` (TTS correlation ids such as ``as:up:01JPB3X7Q9M2C4T6V8W0Y1Z3A5``)."""
    number = (time_ns // 1_000_000) << 80 | int.from_bytes(rng.bytes(10), "big")
    chars = []
    for _ in range(_ULID_CHARS):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def random_uuid(rng: np.random.Generator) -> str:
    """A version-4 UUID from ``rng`` (RFC 9562 §5.4), e.g. a ChirpStack ``deduplicationId``."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def name_uuid(name: str) -> str:
    """A stable version-5 UUID for a named thing (ChirpStack tenant, application, profile)."""
    return str(uuid.uuid5(_NAMESPACE, name))


def b64(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as the protobuf JSON mapping prints bytes."""
    return base64.b64encode(data).decode("ascii")
