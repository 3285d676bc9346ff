"""Faults the simulator injects, each with the outcome city-ingest must give it.

Two families: malformed messages (dead letters with a known reason and detail code) and
duplicates (the same uplink twice, counted as ``duplicate``). Sensor faults are in
``simulators.sensor_faults``. Detail codes are those of ``ingest.envelopes`` and
``ingest.decoders.details``; a manifest ``detail`` is a prefix of the code the service records.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

import numpy as np
import orjson

from ingest.decoders.config import CAYENNE_LPP, NS_DECODED
from ingest.decoders.details import LENGTH_MISMATCH, LPP_UNKNOWN_TYPE
from ingest.model import Device, Network, Outcome, Reason
from simulators.frames import Defect, Frame

__all__ = [
    "DUPLICATE",
    "WRITTEN",
    "Duplicate",
    "Expectation",
    "Malformation",
    "applicable",
    "break_body",
    "break_frame",
    "defect_of",
    "expectation",
]


class Malformation(StrEnum):
    """A message city-ingest must dead-letter."""

    INVALID_JSON = "invalid_json"
    TRUNCATED_JSON = "truncated_json"
    NOT_OBJECT = "not_object"  # JSON, but a string instead of the network's object/array
    MISSING_DEV_EUI = "missing_dev_eui"
    BAD_ENCODING = "bad_encoding"  # payload neither base64 (TTS, ChirpStack) nor hex (KPN)
    WRONG_LENGTH = "wrong_length"
    LPP_UNKNOWN_TYPE = "lpp_unknown_type"
    UNKNOWN_DEVICE = "unknown_device"
    SIMULATED = "simulated"


class Duplicate(StrEnum):
    """An uplink city-ingest has already seen."""

    REPUBLISHED = "duplicate"  # the same bytes again (QoS 1 redelivery, a replay)
    SECOND_PATH = "duplicate_second_path"  # re-encoded: other receive time and gateways


@dataclass(frozen=True, slots=True)
class Expectation:
    """Where a message must end (contract §7) and, for dead letters, why."""

    outcome: Outcome
    reason: Reason | None = None
    detail: str | None = None  # prefix of the service's detail code


WRITTEN: Final = Expectation(Outcome.WRITTEN)
DUPLICATE: Final = Expectation(Outcome.DUPLICATE)

_JSON_INVALID: Final = "envelope.json_invalid"
# Detail codes that differ per network: (TTS and ChirpStack, KPN Things SenML).
_PER_NETWORK: Final[Mapping[Malformation, tuple[str, str]]] = {
    Malformation.NOT_OBJECT: ("envelope.not_an_object", "envelope.not_an_array"),
    Malformation.MISSING_DEV_EUI: ("envelope.missing_field", "senml.bad_base_name"),
    Malformation.BAD_ENCODING: ("envelope.bad_base64", "envelope.bad_hex"),
}
_EXPECTATIONS: Final[Mapping[Malformation, Expectation]] = {
    Malformation.INVALID_JSON: Expectation(Outcome.DEAD_LETTER, Reason.BAD_ENVELOPE, _JSON_INVALID),
    Malformation.TRUNCATED_JSON: Expectation(
        Outcome.DEAD_LETTER, Reason.BAD_ENVELOPE, _JSON_INVALID
    ),
    Malformation.WRONG_LENGTH: Expectation(
        Outcome.DEAD_LETTER, Reason.BAD_PAYLOAD, LENGTH_MISMATCH
    ),
    Malformation.LPP_UNKNOWN_TYPE: Expectation(
        Outcome.DEAD_LETTER, Reason.BAD_PAYLOAD, LPP_UNKNOWN_TYPE
    ),
    Malformation.UNKNOWN_DEVICE: Expectation(
        Outcome.DEAD_LETTER, Reason.UNKNOWN_DEVICE, "registry.unknown_dev_eui"
    ),
    Malformation.SIMULATED: Expectation(
        Outcome.DEAD_LETTER, Reason.BAD_ENVELOPE, "envelope.simulated"
    ),
}
_DEFECTS: Final[Mapping[Malformation, Defect]] = {
    Malformation.MISSING_DEV_EUI: Defect.MISSING_DEV_EUI,
    Malformation.BAD_ENCODING: Defect.BAD_ENCODING,
    Malformation.SIMULATED: Defect.SIMULATED,
}
# A Cayenne LPP type id no LPP v1 or extended-LPP library assigns (LPP v1 type table).
_UNASSIGNED_LPP_TYPE: Final = 0x2A


def expectation(malformation: Malformation, network: Network) -> Expectation:
    """What city-ingest must do with a message carrying ``malformation`` on ``network``."""
    if malformation in _PER_NETWORK:
        detail = _PER_NETWORK[malformation][network is Network.KPN]
        return Expectation(Outcome.DEAD_LETTER, Reason.BAD_ENVELOPE, detail)
    return _EXPECTATIONS[malformation]


def applicable(malformation: Malformation, network: Network, decoder: str) -> bool:
    """Whether ``malformation`` can be built for a device with ``decoder`` on ``network``."""
    raw = decoder != NS_DECODED  # ns-decoded devices send no payload bytes worth breaking
    return {
        Malformation.BAD_ENCODING: raw,
        Malformation.WRONG_LENGTH: raw,
        Malformation.LPP_UNKNOWN_TYPE: decoder == CAYENNE_LPP,
        Malformation.SIMULATED: network is Network.TTS,
    }.get(malformation, True)


def defect_of(malformation: Malformation) -> Defect | None:
    """The defect the renderer builds in for ``malformation``, if it is one of those."""
    return _DEFECTS.get(malformation)


def break_frame(
    malformation: Malformation, frame: Frame, known: Container[str], rng: np.random.Generator
) -> Frame:
    """``frame`` with a broken payload or a stranger's DevEUI; other malformations: unchanged."""
    payload = frame.payload
    if malformation is Malformation.LPP_UNKNOWN_TYPE:
        return replace(frame, payload=payload[:1] + bytes((_UNASSIGNED_LPP_TYPE,)) + payload[2:])
    if malformation is Malformation.WRONG_LENGTH:
        if frame.device.decoder == CAYENNE_LPP or rng.random() < 0.5:
            return replace(frame, payload=payload[: -int(rng.integers(1, 3))])  # cut an item
        return replace(frame, payload=payload + rng.bytes(int(rng.integers(1, 3))))
    if malformation is Malformation.UNKNOWN_DEVICE:
        return replace(frame, device=_stranger(frame.device, known, rng))
    return frame


def _stranger(device: Device, known: Container[str], rng: np.random.Generator) -> Device:
    while True:
        dev_eui = rng.bytes(8).hex().upper()
        if dev_eui not in known:
            return replace(
                device, dev_eui=dev_eui, device_id=f"unregistered-{dev_eui[-6:]}".lower()
            )


def break_body(malformation: Malformation, body: bytes, rng: np.random.Generator) -> bytes:
    """The message bytes with a JSON-level malformation; others: unchanged."""
    if malformation is Malformation.INVALID_JSON:
        return body.replace(b'"', b"'")  # single-quoted keys and strings, as Python prints them
    if malformation is Malformation.TRUNCATED_JSON:  # a strict prefix never closes its brackets
        return body[: int(len(body) * rng.uniform(0.2, 0.9))]
    if malformation is Malformation.NOT_OBJECT:
        return orjson.dumps(body.decode())  # JSON encoded twice: a string
    return body
