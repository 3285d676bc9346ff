"""The Things Stack v3 uplinks: an ``ApplicationUp`` JSON message carrying ``uplink_message``.

Field names and meanings follow the TTS "Data Formats" documentation and lorawan-stack's
``api/messages.proto`` / ``api/metadata.proto``. The JSON omits zero values (``f_cnt`` 0, ``f_port``
0, ``simulated`` false), so each of them defaults to its zero here.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ingest.envelopes._parsing import (
    FrameCounter,
    FramePort,
    decode_base64,
    decode_json,
    merge_gateways,
    normalise_dev_eui,
    read_time,
)
from ingest.errors import EnvelopeError
from ingest.model import Message, Network, Uplink

__all__ = ["TtsEnvelope"]


class _GatewayIds(msgspec.Struct, frozen=True, gc=False):
    gateway_id: str | None = None
    eui: str | None = None


class _RxMetadata(msgspec.Struct, frozen=True, gc=False):
    gateway_ids: _GatewayIds | None = None
    rssi: float | None = None
    channel_rssi: float | None = None
    snr: float | None = None


class _UplinkMessage(msgspec.Struct, frozen=True, gc=False):
    f_port: FramePort = 0
    f_cnt: FrameCounter = 0
    frm_payload: str = ""
    decoded_payload: dict[str, Any] | None = None
    rx_metadata: tuple[_RxMetadata, ...] = ()
    received_at: str | None = None


class _EndDeviceIds(msgspec.Struct, frozen=True, gc=False):
    dev_eui: str | None = None


class _ApplicationUp(msgspec.Struct, frozen=True, gc=False):
    end_device_ids: _EndDeviceIds | None = None
    received_at: str | None = None
    uplink_message: _UplinkMessage | None = None
    simulated: bool = False


_DECODER: Final = msgspec.json.Decoder(_ApplicationUp)


class TtsEnvelope:
    """Reads The Things Stack v3 ``.../up`` messages."""

    def decode(self, message: Message) -> Uplink:
        """The normalised uplink of one TTS message, or ``EnvelopeError``."""
        event = decode_json(message, _DECODER, "object")
        uplink = event.uplink_message
        if uplink is None:
            raise EnvelopeError(
                detail="envelope.not_an_uplink",
                message="no uplink_message (a join, downlink or service event?); "
                "subscribe to .../up only",
            )
        if event.simulated:
            raise EnvelopeError(
                detail="envelope.simulated",
                message="simulated is true: injected from the Console or API, "
                "not received by radio; simulated uplinks are kept out of production data",
            )
        ids = event.end_device_ids
        return Uplink(
            network=Network.TTS,
            dev_eui=normalise_dev_eui(
                None if ids is None else ids.dev_eui, "end_device_ids.dev_eui"
            ),
            time_ns=_time_of(event, uplink, message),
            f_cnt=uplink.f_cnt,
            f_port=uplink.f_port,
            payload=decode_base64(uplink.frm_payload, "uplink_message.frm_payload"),
            decoded=uplink.decoded_payload,
            gateways=merge_gateways(map(_reception, uplink.rx_metadata)),
        )


def _time_of(event: _ApplicationUp, uplink: _UplinkMessage, message: Message) -> int:
    """The Network Server's receive time; the Application Server's if that one is absent."""
    if uplink.received_at is None and event.received_at is not None:
        return read_time(event.received_at, "received_at", message)
    return read_time(uplink.received_at, "uplink_message.received_at", message)


def _reception(rx: _RxMetadata) -> tuple[str | None, float | None, float | None]:
    """One antenna's reception: gateway id (or EUI), RSSI (or channel RSSI), SNR."""
    ids = rx.gateway_ids or _GatewayIds()
    gateway_id = ids.gateway_id or (ids.eui and ids.eui.upper())
    rssi = rx.rssi if rx.rssi is not None else rx.channel_rssi
    return gateway_id, rssi, rx.snr
