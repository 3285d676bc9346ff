"""ChirpStack v4 uplinks: the JSON ``UplinkEvent`` of the MQTT integration (``.../event/up``).

Field names follow chirpstack ``api/proto/integration/integration.proto`` and ``gw/gw.proto``
through the proto3 JSON mapping: lowerCamelCase, zero values omitted (``fCnt`` 0, ``fPort`` 0).
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

__all__ = ["ChirpstackEnvelope"]


class _RxInfo(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    gateway_id: str | None = None
    rssi: float | None = None
    snr: float | None = None


class _DeviceInfo(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    dev_eui: str | None = None


class _UplinkEvent(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    device_info: _DeviceInfo | None = None
    time: str | None = None
    f_cnt: FrameCounter = 0
    f_port: FramePort | None = None
    data: str | None = None
    object_: dict[str, Any] | None = msgspec.field(default=None, name="object")
    rx_info: tuple[_RxInfo, ...] | None = None


_DECODER: Final = msgspec.json.Decoder(_UplinkEvent)


class ChirpstackEnvelope:
    """Reads ChirpStack v4 ``application/+/device/+/event/up`` messages (JSON encoding)."""

    def decode(self, message: Message) -> Uplink:
        """The normalised uplink of one ChirpStack event, or ``EnvelopeError``."""
        event = decode_json(message, _DECODER, "object")
        if event.rx_info is None and event.f_port is None and event.data is None:
            raise EnvelopeError(
                detail="envelope.not_an_uplink",
                message="no rxInfo, fPort or data (a join, status, ack or log event?); "
                "subscribe to .../event/up only",
            )
        info = event.device_info
        return Uplink(
            network=Network.CHIRPSTACK,
            dev_eui=normalise_dev_eui(None if info is None else info.dev_eui, "deviceInfo.devEui"),
            time_ns=read_time(event.time, "time", message),
            f_cnt=event.f_cnt,
            f_port=event.f_port or 0,
            payload=decode_base64(event.data or "", "data"),
            decoded=event.object_,
            gateways=merge_gateways(
                (rx.gateway_id and rx.gateway_id.upper(), rx.rssi, rx.snr)
                for rx in event.rx_info or ()
            ),
        )
