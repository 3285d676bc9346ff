"""Typed values that cross stage boundaries: messages, uplinks, devices and outcomes.

The per-message values an envelope builds (``Uplink``, ``Gateway``, ``SenmlRecord``) are frozen
msgspec structs: created several times per message, they cost a fifth of a frozen dataclass.
They never take part in a reference cycle, so the garbage collector does not track them
(``gc=False``, as the envelopes' decoding structs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

__all__ = [
    "Device",
    "Gateway",
    "Kind",
    "Message",
    "Network",
    "Outcome",
    "Owner",
    "Reason",
    "SenmlRecord",
    "Uplink",
]


class Network(StrEnum):
    """The network servers whose uplink formats city-ingest reads (contract §2)."""

    TTS = "tts"
    CHIRPSTACK = "chirpstack"
    KPN = "kpn"


class Kind(StrEnum):
    """What a device measures; it selects the measurement its readings go to (contract §4)."""

    AIR = "air"
    NOISE = "noise"
    WASTE = "waste"


class Owner(StrEnum):
    """Who hosts a device; citizen-hosted devices are pseudonymised (contract §3)."""

    MUNICIPAL = "municipal"
    CITIZEN = "citizen"


class Outcome(StrEnum):
    """Where every received uplink ends, exactly once (contract §7)."""

    WRITTEN = "written"
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"


class Reason(StrEnum):
    """Why an uplink was dead-lettered (contract §7); finer detail codes travel beside it."""

    BAD_ENVELOPE = "bad_envelope"
    BAD_PAYLOAD = "bad_payload"
    UNKNOWN_DEVICE = "unknown_device"
    OUT_OF_SCHEMA = "out_of_schema"
    REJECTED_BY_DB = "rejected_by_db"


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a source received it. ``token`` is the source's acknowledgement handle;
    ``partition`` the source's partition it came from (0 for unpartitioned transports)."""

    topic: str
    payload: bytes
    received_ns: int
    token: int = 0
    partition: int = 0


class Gateway(msgspec.Struct, frozen=True, gc=False):
    """The best reception of an uplink at one gateway."""

    gateway_id: str
    rssi: float | None
    snr: float | None


class SenmlRecord(msgspec.Struct, frozen=True, gc=False):
    """A resolved SenML record (RFC 8428 §4.6): base fields applied, absolute time.

    ``name`` is the record's own name with the device's base name removed
    (``urn:dev:DEVEUI:0059AC000018F2B1:temperature`` → ``temperature``).
    """

    name: str
    unit: str | None
    value: float | str | bool
    time_ns: int


class Uplink(msgspec.Struct, frozen=True, gc=False):
    """A network server's uplink, normalised: what every envelope yields."""

    network: Network
    dev_eui: str  # 16 upper-case hex digits
    time_ns: int  # the uplink's own time (network server receive time), ns since the epoch, UTC
    f_cnt: int | None  # None where the network does not expose it (KPN SenML)
    f_port: int | None
    payload: bytes  # FRMPayload, b"" when the network server forwarded none
    decoded: Mapping[str, Any] | None = None  # network server's decoded object, if any
    records: tuple[SenmlRecord, ...] = ()  # KPN Things SenML measurement records
    gateways: tuple[Gateway, ...] = ()  # one entry per distinct gateway


@dataclass(frozen=True, slots=True)
class Device:
    """One row of the device registry (contract §3). ``code`` is its int32 column code."""

    code: int
    dev_eui: str
    device_id: str
    kind: Kind
    decoder: str
    district: str
    site: str
    lat: float
    lon: float
    owner: Owner
    empty_distance_mm: float | None = None
    full_distance_mm: float | None = None
