"""Messages as each network server prints them: topics, field names and zero-value omission."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import replace
from decimal import Decimal

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decoders.config import NS_DECODED, DecoderConfig
from ingest.model import Device, Kind, Network
from simulators.fleet import generate_fleet
from simulators.frames import Frame, new_session
from simulators.networks import Renderer, network_time, via_second_path
from simulators.payloads import encode_payload, senml_unit
from simulators.radio import plan_link, receive
from simulators.sensors import build_model
from tests.simulators.helpers import START_NS

TIME_NS = START_NS + 123_456_789
TTS_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
CS_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00")
DEVICES = generate_fleet(4, seed=21)  # every decoder of every kind


def _frame(
    decoders: DecoderConfig,
    device: Device,
    network: Network,
    *,
    f_cnt: int = 42,
    variant: int = 0,
) -> Frame:
    rng = np.random.default_rng(device.code)
    encoded = encode_payload(
        decoders, device.decoder, device.kind, build_model(device, 1).read(TIME_NS)
    )
    return Frame(
        device=device,
        network=network,
        time_ns=network_time(network, TIME_NS, variant),
        f_cnt=f_cnt,
        f_port=encoded.f_port,
        payload=encoded.payload,
        decoded=encoded.decoded,
        values=encoded.values,
        session=new_session(network, rng),
        radio=receive(plan_link(device.lat, device.lon, rng), rng),
        variant=variant,
    )


def _render(frame: Frame) -> tuple[str, object]:
    topic, body = Renderer(np.random.default_rng(0)).render(frame)
    return topic, orjson.loads(body)


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.device_id)
def test_tts_uplink_has_the_documented_fields(decoders: DecoderConfig, device: Device) -> None:
    frame = _frame(decoders, device, Network.TTS)
    topic, body = _render(frame)
    assert isinstance(body, dict)
    app = {Kind.AIR: "lucht", Kind.NOISE: "geluid", Kind.WASTE: "afval"}[device.kind]
    assert topic == f"v3/zaanstad-{app}@ttn/devices/{device.device_id}/up"
    ids = body["end_device_ids"]
    assert ids["device_id"] == device.device_id
    assert ids["dev_eui"] == device.dev_eui
    assert ids["application_ids"] == {"application_id": f"zaanstad-{app}"}
    assert re.fullmatch(r"[0-9A-F]{8}", ids["dev_addr"])
    assert TTS_TIME.fullmatch(body["received_at"])
    assert body["correlation_ids"][0].startswith("as:up:")
    assert "simulated" not in body
    up = body["uplink_message"]
    assert up["received_at"] == "2025-03-14T08:00:00.123456789Z"
    assert up["f_port"] == frame.f_port
    assert up["f_cnt"] == 42
    assert base64.b64decode(up.get("frm_payload", "")) == frame.payload
    assert ("decoded_payload" in up) == (device.decoder == NS_DECODED)
    assert up.get("decoded_payload", frame.decoded) == frame.decoded
    lora = up["settings"]["data_rate"]["lora"]
    assert lora["bandwidth"] == 125_000
    assert lora["spreading_factor"] == frame.radio.sf
    assert up["settings"]["frequency"] == str(frame.radio.frequency_hz)
    assert re.fullmatch(r"\d+\.\d{6}s", up["consumed_airtime"])
    assert len(up["rx_metadata"]) == len(frame.radio.receptions)
    for rx in up["rx_metadata"]:
        assert re.fullmatch(r"gw-[a-z-]+", rx["gateway_ids"]["gateway_id"])
        assert re.fullmatch(r"[0-9A-F]{16}", rx["gateway_ids"]["eui"])
        assert rx["rssi"] == rx["channel_rssi"] < 0
        assert rx.get("antenna_index", 0) in (0, 1)
        assert "antenna_index" not in rx or rx["antenna_index"] == 1  # 0 is omitted


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.device_id)
def test_chirpstack_uplink_has_the_documented_fields(
    decoders: DecoderConfig, device: Device
) -> None:
    frame = _frame(decoders, device, Network.CHIRPSTACK)
    topic, body = _render(frame)
    assert isinstance(body, dict)
    info = body["deviceInfo"]
    match = re.fullmatch(r"application/([0-9a-f-]{36})/device/([0-9a-f]{16})/event/up", topic)
    assert match is not None
    assert match[1] == info["applicationId"] == str(uuid.UUID(match[1]))
    assert match[2] == info["devEui"] == device.dev_eui.lower()
    assert info["deviceName"] == device.device_id
    assert info["tags"]["district"] == device.district
    assert str(uuid.UUID(body["deduplicationId"])) == body["deduplicationId"]
    assert body["time"] == "2025-03-14T08:00:00.123456789+00:00"
    assert body["fCnt"] == 42
    assert body["fPort"] == frame.f_port
    assert base64.b64decode(body.get("data", "")) == frame.payload
    assert ("object" in body) == (device.decoder == NS_DECODED)
    assert body.get("dr", 0) == 12 - frame.radio.sf
    assert body["txInfo"]["frequency"] == frame.radio.frequency_hz
    assert body["txInfo"]["modulation"]["lora"] == {
        "bandwidth": 125_000,
        "spreadingFactor": frame.radio.sf,
        "codeRate": "CR_4_5",
    }
    assert len(body["rxInfo"]) == len(frame.radio.receptions)
    for rx in body["rxInfo"]:
        assert re.fullmatch(r"[0-9a-f]{16}", rx["gatewayId"])
        assert CS_TIME.fullmatch(rx["nsTime"])
        assert isinstance(rx["rssi"], int)
        assert rx["crcStatus"] == "CRC_OK"


@pytest.mark.parametrize("network", [Network.TTS, Network.CHIRPSTACK])
def test_frame_counter_zero_is_omitted(decoders: DecoderConfig, network: Network) -> None:
    frame = _frame(decoders, DEVICES[0], network, f_cnt=0)
    _, body = _render(frame)
    assert isinstance(body, dict)
    counters = body["uplink_message"] if network is Network.TTS else body
    assert "f_cnt" not in counters
    assert "fCnt" not in counters
    assert counters.get("f_port", counters.get("fPort")) == frame.f_port


def _resolve(
    pack: list[dict[str, object]],
) -> tuple[str, Decimal, dict[str, tuple[object, object]]]:
    """A plain SenML resolution (RFC 8428 §4.6) for these packs: base name, time, records."""
    base_name, base_time = "", Decimal(0)
    records: dict[str, tuple[object, object]] = {}
    for record in pack:
        base_name = str(record.get("bn", base_name))
        base_time = Decimal(str(record.get("bt", base_time)))
        value = record.get("v", record.get("vs"))
        if value is not None:
            records[base_name + str(record["n"])] = (record.get("u"), value)
    return base_name, base_time, records


@pytest.mark.parametrize("variant", range(8))
@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.device_id)
def test_kpn_pack_is_senml_with_the_device_urn(
    decoders: DecoderConfig, device: Device, variant: int
) -> None:
    frame = _frame(decoders, device, Network.KPN, variant=variant)
    topic, body = Renderer(np.random.default_rng(0)).render(frame)
    assert topic == f"kpn/things/{device.dev_eui}"
    pack = orjson.loads(body)
    assert isinstance(pack, list)
    legacy = variant & 1
    assert (set(pack[0]) == {"bn", "bt"}) == bool(legacy)
    bt_text = re.search(rb'"bt":([0-9.E]+)', body)
    assert bt_text is not None
    assert (b"E" in bt_text[1]) == bool(variant & 2)
    base_name, base_time, records = _resolve(pack)
    assert base_name == f"urn:dev:DEVEUI:{device.dev_eui}:"
    assert base_time * 1_000_000_000 == frame.time_ns
    assert frame.time_ns % (1_000_000_000 if legacy or variant & 4 else 1_000_000) == 0
    expected: dict[str, tuple[object, object]]
    if device.decoder == NS_DECODED:
        expected = {base_name + n: (senml_unit(n), v) for n, v in frame.values.items()}
    else:
        expected = {
            f"{base_name}payload": (None, frame.payload.hex()),
            f"{base_name}port": (None, frame.f_port),
        }
    assert records == expected


@pytest.mark.parametrize("network", list(Network))
def test_second_path_keeps_the_duplicate_key(decoders: DecoderConfig, network: Network) -> None:
    device = DEVICES[0]
    frame = _frame(decoders, device, network, variant=6)
    again = via_second_path(frame, frame.radio, np.random.default_rng(1))
    renderer = Renderer(np.random.default_rng(0))
    assert renderer.render(again)[1] != renderer.render(frame)[1]
    assert (again.f_cnt, again.payload, again.values) == (frame.f_cnt, frame.payload, frame.values)
    if network is Network.KPN:  # no fCnt: the time is part of the key
        assert again.time_ns == frame.time_ns
    else:
        assert 0 < again.time_ns - frame.time_ns < 10_000_000_000


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    time_ns=st.integers(min_value=1_420_070_400 * 10**9, max_value=4_102_444_800 * 10**9),
    variant=st.integers(0, 7),
)
def test_kpn_base_time_reads_back_exactly(
    decoders: DecoderConfig, time_ns: int, variant: int
) -> None:
    frame = replace(
        _frame(decoders, DEVICES[0], Network.KPN),
        time_ns=network_time(Network.KPN, time_ns, variant),
        variant=variant,
    )
    _, body = Renderer(np.random.default_rng(0)).render(frame)
    _, base_time, _ = _resolve(orjson.loads(body))
    assert base_time * 1_000_000_000 == frame.time_ns
    assert 0 <= time_ns - frame.time_ns < 1_000_000_000


def test_topics_take_the_prefix_and_the_kpn_topic(decoders: DecoderConfig) -> None:
    renderer = Renderer(np.random.default_rng(0), "city/", "things/{dev_eui}/senml")
    device = DEVICES[0]
    kpn, _ = renderer.render(_frame(decoders, device, Network.KPN))
    tts, _ = renderer.render(_frame(decoders, device, Network.TTS))
    assert kpn == f"city/things/{device.dev_eui}/senml"
    assert tts.startswith("city/v3/")
