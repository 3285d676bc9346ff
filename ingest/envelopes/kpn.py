"""KPN Things uplinks: a SenML JSON pack (RFC 8428) pushed to the operator's MQTT broker.

The device is named by the base name ``urn:dev:DEVEUI:<DevEUI>:`` (KPN Things SenML docs); the
"Raw LoRa payload" decoder adds a ``payload`` record (hex string) and a ``port`` record (number).
KPN Things does not expose the frame counter, so ``f_cnt`` is None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from ingest.envelopes._parsing import check_time, normalise_dev_eui
from ingest.envelopes._senml import decode_pack
from ingest.errors import EnvelopeError
from ingest.model import Message, Network, SenmlRecord, Uplink

__all__ = ["KpnEnvelope"]

_DEVICE_URN: Final = re.compile(r"urn:dev:([^:]*):([^:]*):")
_LORA_URN_KIND: Final = "DEVEUI"  # others: IMEI (M2M), DVNUUID (internet devices)
_PAYLOAD: Final = "payload"
_PORT: Final = "port"
_HEX_BYTES: Final = re.compile(r"(?:[0-9A-Fa-f]{2})*")


class KpnEnvelope:
    """Reads KPN Things SenML packs, legacy and newer layout alike."""

    def decode(self, message: Message) -> Uplink:
        """The normalised uplink of one SenML pack, or ``EnvelopeError``."""
        records = decode_pack(message)
        if not records:
            raise EnvelopeError(
                detail="senml.empty_pack", message="the pack has no record with a value"
            )
        for record in (records[0], records[-1]):
            check_time(record.time_ns, message, f"time of record {record.name[:64]!r}")
        prefix, dev_eui = _device_of(records[0].name)
        measurements, raw = _split(records, prefix)
        return Uplink(
            network=Network.KPN,
            dev_eui=dev_eui,
            time_ns=records[-1].time_ns,
            f_cnt=None,
            f_port=_port_of(raw.get(_PORT)),
            payload=_payload_of(raw.get(_PAYLOAD)),
            records=tuple(measurements),
        )


def _device_of(name: str) -> tuple[str, str]:
    """The ``urn:dev:DEVEUI:<hex>:`` prefix of a record name, and the DevEUI in it."""
    match = _DEVICE_URN.match(name)
    if match is None:
        raise EnvelopeError(
            detail="senml.bad_base_name",
            message=f"name {name[:64]!r} does not start with a device URN urn:dev:<kind>:<id>:",
        )
    kind, identifier = match.groups()
    if kind != _LORA_URN_KIND:
        raise EnvelopeError(
            detail="envelope.unsupported_device_urn",
            message=f"device URN kind {kind[:32]!r}: "
            "only LoRa devices (urn:dev:DEVEUI:) are supported",
        )
    return match.group(), normalise_dev_eui(identifier, "bn DevEUI")


def _split(
    records: Sequence[SenmlRecord], prefix: str
) -> tuple[list[SenmlRecord], dict[str, SenmlRecord]]:
    """Measurements named without the device prefix, and the raw ``payload``/``port`` records."""
    measurements: list[SenmlRecord] = []
    raw: dict[str, SenmlRecord] = {}
    for record in records:
        if not record.name.startswith(prefix):
            raise EnvelopeError(
                detail="senml.mixed_devices",
                message=f"record {record.name[:64]!r} is not from the pack's device {prefix!r}",
            )
        name = record.name[len(prefix) :]
        if not name:
            raise EnvelopeError(
                detail="senml.bad_name", message=f"a record of {prefix!r} has no name"
            )
        if name in (_PAYLOAD, _PORT):
            if name in raw:
                raise EnvelopeError(
                    detail="senml.duplicate_record", message=f"more than one {name!r} record"
                )
            raw[name] = record
        else:
            measurements.append(SenmlRecord(name, record.unit, record.value, record.time_ns))
    return measurements, raw


def _payload_of(record: SenmlRecord | None) -> bytes:
    if record is None:
        return b""
    value = record.value
    if not isinstance(value, str) or _HEX_BYTES.fullmatch(value) is None:
        raise EnvelopeError(
            detail="envelope.bad_hex", message="the payload record's vs must be a hex string"
        )
    return bytes.fromhex(value)


def _port_of(record: SenmlRecord | None) -> int | None:
    if record is None:
        return None
    value = record.value
    if isinstance(value, float) and value.is_integer() and 0 <= value <= 0xFF:
        return int(value)
    raise EnvelopeError(
        detail="envelope.bad_field", message="the port record's v must be an integer 0-255"
    )
