"""Uplinks as the network servers publish them: topic and JSON body per network.

Formats follow uplink-formats.md (TTS v3 ``ApplicationUp``, ChirpStack v4 ``UplinkEvent``, KPN
Things SenML per RFC 8428). TTS and ChirpStack print protobuf JSON, which omits zero values
(proto3 JSON mapping): ``f_cnt``/``fCnt`` 0, ``antenna_index`` 0, an SNR of exactly 0 dB.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Final

import numpy as np
import orjson

from ingest.decoders.config import NS_DECODED
from ingest.model import Kind, Network
from simulators.fleet import CITY
from simulators.frames import Defect, Frame
from simulators.identifiers import b64, name_uuid, random_uuid, rfc3339, ulid
from simulators.payloads import senml_unit
from simulators.radio import BANDWIDTH_HZ, Radio, Reception, airtime_s

__all__ = ["KPN_TOPIC", "Renderer", "network_time", "via_second_path"]

KPN_TOPIC: Final = "kpn/things/{dev_eui}"
_NS: Final = 1_000_000_000
_APPS: Final[Mapping[Kind, str]] = {Kind.AIR: "lucht", Kind.NOISE: "geluid", Kind.WASTE: "afval"}
_TTS_TENANT: Final = "ttn"
_JOIN_EUI: Final = "70B3D57ED0000000"
_CS_TENANT: Final = name_uuid(f"{CITY}/tenant")
_CS_METADATA: Final = {"region_config_id": "eu868", "region_common_name": "EU868"}
_DEFAULTS: Final = (0, "", False)  # proto3 JSON mapping omits these
_KPN_BT: Final = "@bt@"  # placeholder replaced by the SenML base time in its printed form
# Frame.variant bits: format choices of one uplink (KPN: pack layout, number form, time step).
_LEGACY: Final = 1
_EXPONENT: Final = 2
_WHOLE_SECONDS: Final = 4


def network_time(network: Network, time_ns: int, variant: int) -> int:
    """``time_ns`` as the network prints it: KPN SenML to the second (legacy) or millisecond."""
    if network is not Network.KPN:
        return time_ns
    step = _NS if variant & (_LEGACY | _WHOLE_SECONDS) else 1_000_000
    return time_ns // step * step


def via_second_path(frame: Frame, radio: Radio, rng: np.random.Generator) -> Frame:
    """The same uplink as a second network-server path delivers it: other time and gateways.

    KPN SenML carries no fCnt, so the uplink time is part of the duplicate key (uplink-formats
    §5.2) and stays; the pack is printed in another layout or number form instead.
    """
    if frame.network is Network.KPN:
        whole = frame.time_ns % _NS == 0
        return replace(frame, variant=frame.variant ^ _EXPONENT ^ (_LEGACY if whole else 0))
    shift = int(rng.integers(50_000_000, 3_000_000_000))
    return replace(frame, time_ns=frame.time_ns + shift, radio=radio)


class Renderer:
    """Prints frames as (topic, body) with random ids from ``rng``; topics get ``prefix``.

    KPN Things publishes on a topic its operator chooses: ``kpn_topic`` with ``{dev_eui}``.
    """

    def __init__(
        self, rng: np.random.Generator, prefix: str = "", kpn_topic: str = KPN_TOPIC
    ) -> None:
        self._rng = rng
        self._prefix = prefix
        self._kpn_topic = kpn_topic
        self._formats: Mapping[Network, Callable[[Frame, Defect | None], tuple[str, bytes]]] = {
            Network.TTS: self._tts,
            Network.CHIRPSTACK: self._chirpstack,
            Network.KPN: self._kpn,
        }

    def render(self, frame: Frame, defect: Defect | None = None) -> tuple[str, bytes]:
        topic, body = self._formats[frame.network](frame, defect)
        return self._prefix + topic, body

    def _tts(self, frame: Frame, defect: Defect | None) -> tuple[str, bytes]:
        device, radio, rng = frame.device, frame.radio, self._rng
        app = f"{CITY}-{_APPS[device.kind]}"
        ids: dict[str, object] = {
            "device_id": device.device_id,
            "application_ids": {"application_id": app},
            "dev_eui": device.dev_eui,
            "join_eui": _JOIN_EUI,
            "dev_addr": frame.session.dev_addr,
        }
        if defect is Defect.MISSING_DEV_EUI:
            del ids["dev_eui"]
        uplink = _proto(
            {
                "session_key_id": b64(frame.session.key_id),
                "f_port": frame.f_port,
                "f_cnt": frame.f_cnt,
                "frm_payload": _payload_text(frame, defect),
                "decoded_payload": frame.decoded,
                "rx_metadata": [_tts_rx(r, frame.time_ns, radio.channel) for r in radio.receptions],
                "settings": {
                    "data_rate": {
                        "lora": {
                            "bandwidth": BANDWIDTH_HZ,
                            "spreading_factor": radio.sf,
                            "coding_rate": "4/5",
                        }
                    },
                    "frequency": str(radio.frequency_hz),
                    "timestamp": radio.receptions[0].counter_us,
                },
                "received_at": rfc3339(frame.time_ns),
                "consumed_airtime": f"{airtime_s(radio.sf, len(frame.payload)):.6f}s",
            }
        )
        body = {
            "end_device_ids": ids,
            "correlation_ids": [
                f"as:up:{ulid(frame.time_ns, rng)}",
                f"gs:uplink:{ulid(frame.time_ns, rng)}",
            ],
            "received_at": rfc3339(frame.time_ns + int(rng.integers(2_000_000, 40_000_000))),
            "uplink_message": uplink,
            "simulated": defect is Defect.SIMULATED,
        }
        topic = f"v3/{app}@{_TTS_TENANT}/devices/{device.device_id}/up"
        return topic, orjson.dumps(_proto(body))

    def _chirpstack(self, frame: Frame, defect: Defect | None) -> tuple[str, bytes]:
        device, radio = frame.device, frame.radio
        app = name_uuid(f"{CITY}/application/{device.kind}")
        info = {
            "tenantId": _CS_TENANT,
            "tenantName": f"Gemeente {CITY.title()}",
            "applicationId": app,
            "applicationName": _APPS[device.kind],
            "deviceProfileId": name_uuid(f"{CITY}/profile/{device.decoder}"),
            "deviceProfileName": device.decoder,
            "deviceName": device.device_id,
            "devEui": device.dev_eui.lower(),
            "deviceClassEnabled": "CLASS_A",
            "tags": {"district": device.district, "kind": str(device.kind)},
        }
        if defect is Defect.MISSING_DEV_EUI:
            del info["devEui"]
        body = {
            "deduplicationId": random_uuid(self._rng),
            "time": rfc3339(frame.time_ns, "+00:00"),
            "deviceInfo": info,
            "devAddr": frame.session.dev_addr.lower(),
            "adr": True,
            "dr": radio.data_rate,
            "fCnt": frame.f_cnt,
            "fPort": frame.f_port,
            "confirmed": False,
            "data": _payload_text(frame, defect),
            "object": frame.decoded,
            "rxInfo": [self._chirpstack_rx(r, frame.time_ns, radio) for r in radio.receptions],
            "txInfo": {
                "frequency": radio.frequency_hz,
                "modulation": {
                    "lora": {
                        "bandwidth": BANDWIDTH_HZ,
                        "spreadingFactor": radio.sf,
                        "codeRate": "CR_4_5",
                    }
                },
            },
            "regionConfigId": "eu868",
        }
        topic = f"application/{app}/device/{device.dev_eui.lower()}/event/up"
        return topic, orjson.dumps(_proto(body))

    def _chirpstack_rx(self, rx: Reception, time_ns: int, radio: Radio) -> dict[str, object]:
        gateway, heard_ns = rx.gateway, time_ns - rx.delay_ns
        return _proto(
            {
                "gatewayId": gateway.eui.lower(),
                "uplinkId": int(self._rng.integers(1, 1 << 16)),
                "gwTime": rfc3339(heard_ns - 20_000_000, "+00:00") if gateway.gps else "",
                "nsTime": rfc3339(heard_ns, "+00:00"),
                "rssi": rx.rssi,
                "snr": rx.snr,
                "channel": radio.channel,
                "rfChain": 1 if radio.channel >= 3 else 0,
                "antenna": rx.antenna,
                "location": {
                    "latitude": gateway.lat,
                    "longitude": gateway.lon,
                    "altitude": gateway.altitude,
                },
                "context": b64(rx.counter_us.to_bytes(4, "big")),
                "metadata": _CS_METADATA,
                "crcStatus": "CRC_OK",
            }
        )

    def _kpn(self, frame: Frame, defect: Defect | None) -> tuple[str, bytes]:
        device = frame.device
        records: list[dict[str, object]]
        if device.decoder == NS_DECODED:
            records = [{"n": n, "u": senml_unit(n), "v": v} for n, v in frame.values.items()]
        else:
            payload = _payload_text(frame, defect)
            records = [{"n": "payload", "vs": payload}, {"n": "port", "v": frame.f_port}]
        base: dict[str, object] = {"bn": f"urn:dev:DEVEUI:{device.dev_eui}:", "bt": _KPN_BT}
        if defect is Defect.MISSING_DEV_EUI:
            del base["bn"]
        if frame.variant & _LEGACY:  # KPN's legacy layout: a first record of base fields only
            pack = [base, *records]
        else:
            pack = [{**base, **records[0]}, *records[1:]]
        body = orjson.dumps(pack).replace(f'"{_KPN_BT}"'.encode(), _senml_time(frame), 1)
        return self._kpn_topic.replace("{dev_eui}", device.dev_eui), body


def _tts_rx(rx: Reception, time_ns: int, channel: int) -> dict[str, object]:
    gateway, heard_ns = rx.gateway, time_ns - rx.delay_ns
    return _proto(
        {
            "gateway_ids": {"gateway_id": gateway.gateway_id, "eui": gateway.eui},
            "antenna_index": rx.antenna,
            "time": rfc3339(heard_ns - 20_000_000) if gateway.gps else "",
            "timestamp": rx.counter_us,
            "rssi": rx.rssi,
            "channel_rssi": rx.rssi,
            "snr": rx.snr,
            "location": {
                "latitude": gateway.lat,
                "longitude": gateway.lon,
                "altitude": gateway.altitude,
                "source": "SOURCE_REGISTRY",
            },
            "channel_index": channel,
            "received_at": rfc3339(heard_ns),
        }
    )


def _payload_text(frame: Frame, defect: Defect | None) -> str:
    """The payload as the network prints it, or (BAD_ENCODING) text that does not decode."""
    text = frame.payload.hex() if frame.network is Network.KPN else b64(frame.payload)
    if defect is Defect.BAD_ENCODING:
        return "z!" + text[2:]  # neither hex nor base64 in either alphabet (RFC 4648 §4, §5)
    return text


def _senml_time(frame: Frame) -> bytes:
    """The base time in seconds, with a millisecond fraction if any, maybe in E notation."""
    seconds, nanos = divmod(frame.time_ns, _NS)
    digits, point = str(seconds), len(str(seconds))
    if nanos:
        digits += f"{nanos // 1_000_000:03d}".rstrip("0")
    if frame.variant & _EXPONENT:  # KPN prints e.g. 1.7419401E9 (uplink-formats §3.1)
        mantissa = digits.rstrip("0") or "0"
        text = f"{mantissa[0]}.{mantissa[1:] or '0'}E{point - 1}"
    else:
        text = digits if len(digits) == point else f"{digits[:point]}.{digits[point:]}"
    return text.encode()


def _proto(fields: dict[str, object]) -> dict[str, object]:
    """``fields`` without proto3 default values (0, "", false) and unset (None) ones."""
    return {k: v for k, v in fields.items() if v is not None and v not in _DEFAULTS}
