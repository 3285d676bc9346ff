"""An uplink as the simulator knows it before a network server prints it, and its session."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ingest.model import Device, Network
from simulators.radio import Radio

__all__ = ["Defect", "Frame", "Session", "new_session"]


class Defect(StrEnum):
    """A defect the renderer builds into the message itself."""

    MISSING_DEV_EUI = "missing_dev_eui"
    BAD_ENCODING = "bad_encoding"  # payload text that is not base64 (TTS, ChirpStack) / hex (KPN)
    SIMULATED = "simulated"  # TTS only: injected from the Console, not received by radio


@dataclass(frozen=True, slots=True)
class Session:
    """A device's LoRaWAN session; a new one after every (re)join."""

    dev_addr: str  # 8 upper-case hex digits
    key_id: bytes


@dataclass(frozen=True, slots=True)
class Frame:
    """One uplink as the simulator knows it, before a network server prints it."""

    device: Device
    network: Network
    time_ns: int  # the network server's receive time
    f_cnt: int
    f_port: int
    payload: bytes
    decoded: dict[str, object] | None
    values: dict[str, float]
    session: Session
    radio: Radio
    variant: int  # random bits for format choices


def new_session(network: Network, rng: np.random.Generator) -> Session:
    """A fresh session: TTN DevAddrs start 260B, ChirpStack's local ones 01."""
    prefix = "260B" if network is Network.TTS else "01"
    dev_addr = prefix + rng.bytes(4).hex().upper()[: 8 - len(prefix)]
    return Session(dev_addr, rng.bytes(16))
