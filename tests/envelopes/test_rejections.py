"""Each way a message can be unusable gives its own ``EnvelopeError`` detail code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.envelopes import ENVELOPES, _parsing
from ingest.errors import EnvelopeError
from ingest.model import Network

from .golden import document, message_of

_DELETE = object()
_TTS, _CS, _KPN = Network.TTS, Network.CHIRPSTACK, Network.KPN
_DEVICE = "urn:dev:DEVEUI:0059AC000018F2B1:"
_DECODED = document("tts", "example")["uplink_message"]["decoded_payload"]
_STATUS_EVENT = json.dumps(
    {
        "time": "2025-03-14T08:20:11Z",
        "deviceInfo": {"devEui": "a84041000181c3d2"},
        "margin": 7,
        "batteryLevel": 88.5,
    }
).encode()


def _changed(network: Network, changes: dict[str, Any]) -> bytes:
    """The network's example message with ``changes``: {dotted path: value, raw JSON bytes or
    _DELETE}."""
    doc = document(network.value, "example")
    raw: dict[bytes, bytes] = {}
    for path, value in changes.items():
        *parents, key = path.split(".")
        node = doc
        for parent in parents:
            node = node[parent]
        if value is _DELETE:
            del node[key]
        elif isinstance(value, bytes):
            placeholder = f"raw-{len(raw)}"
            node[key] = placeholder
            raw[json.dumps(placeholder).encode()] = value
        else:
            node[key] = value
    payload = json.dumps(doc).encode()
    for placeholder, value in raw.items():
        payload = payload.replace(placeholder, value)
    return payload


def _nested(depth: int) -> bytes:
    """A JSON value nested ``depth`` lists deep."""
    return b"[" * depth + b"1" + b"]" * depth


def _pack(*records: dict[str, Any]) -> bytes:
    return json.dumps([{"bn": _DEVICE, "bt": 1741940100}, *records]).encode()


_REJECTIONS = [
    (_TTS, b'{"a": "' + b"x" * 300_000 + b'"}', "envelope.too_large"),
    (_TTS, _changed(_TTS, {}).replace(b"aq-0017", b"aq-\xff017"), "envelope.not_utf8"),
    (_TTS, b'{"uplink_message": {"f_cnt": 1', "envelope.json_invalid"),
    (_TTS, b'{"uplink_message": {"f_cnt": NaN}}', "envelope.json_invalid"),
    (_KPN, b'[{"bn": "x", "v": Infinity}]', "envelope.json_invalid"),
    (_TTS, b" [1, 2]", "envelope.not_an_object"),
    (_CS, b'"an uplink"', "envelope.not_an_object"),
    (_KPN, b'{"bn": "urn:dev:DEVEUI:0059AC000018F2B1:"}', "envelope.not_an_array"),
    (
        _TTS,
        _changed(_TTS, {"uplink_message.decoded_payload.deep": _nested(30)}),  # 33 levels
        "envelope.too_deep",
    ),
    (_CS, _changed(_CS, {"unknownField": _nested(50_000)}), "envelope.too_deep"),
    (
        _KPN,
        b'[{"bn": "%s", "v": 1, "x": %s}]' % (_DEVICE.encode(), _nested(40)),
        "envelope.too_deep",
    ),
    (_TTS, _changed(_TTS, {"end_device_ids.dev_eui": _DELETE}), "envelope.missing_field"),
    (_CS, _changed(_CS, {"time": _DELETE}), "envelope.missing_field"),
    (_CS, _changed(_CS, {"deviceInfo": _DELETE}), "envelope.missing_field"),
    (_TTS, _changed(_TTS, {"uplink_message.f_cnt": "1874"}), "envelope.bad_field"),
    (_TTS, _changed(_TTS, {"uplink_message.f_cnt": 2**32}), "envelope.bad_field"),
    (_TTS, _changed(_TTS, {"uplink_message.f_port": 256}), "envelope.bad_field"),
    (_TTS, _changed(_TTS, {"uplink_message.decoded_payload": [1]}), "envelope.bad_field"),
    (_TTS, _changed(_TTS, {}).replace(b"-97,", b"-1e400,", 1), "envelope.bad_field"),
    (_CS, _changed(_CS, {"fCnt": -1}), "envelope.bad_field"),
    (_KPN, _pack({"n": "temperature", "v": "21.4"}), "envelope.bad_field"),
    (_KPN, _pack({"n": "port", "v": 3.5}), "envelope.bad_field"),
    (
        _TTS,
        _changed(_TTS, {"uplink_message.received_at": "2025-02-29T08:15:02Z"}),
        "envelope.bad_time",
    ),
    (_CS, _changed(_CS, {"time": "yesterday"}), "envelope.bad_time"),
    (
        _TTS,
        _changed(_TTS, {"uplink_message.received_at": "2014-12-31T23:59:59Z"}),
        "envelope.time_out_of_range",
    ),
    (_CS, _changed(_CS, {"time": "2025-03-15T08:30:00.000000001Z"}), "envelope.time_out_of_range"),
    (
        _KPN,
        json.dumps([{"bn": _DEVICE, "bt": 1e300, "v": 1}]).encode(),
        "envelope.time_out_of_range",
    ),
    (_KPN, json.dumps([{"bn": _DEVICE, "bt": 1e9, "v": 1}]).encode(), "envelope.time_out_of_range"),
    (_TTS, _changed(_TTS, {"end_device_ids.dev_eui": "70B3D57ED005A1F"}), "envelope.bad_dev_eui"),
    (_CS, _changed(_CS, {"deviceInfo.devEui": "a84041000181c3g2"}), "envelope.bad_dev_eui"),
    (
        _KPN,
        json.dumps([{"bn": "urn:dev:DEVEUI:12AB:", "n": "t", "v": 1}]).encode(),
        "envelope.bad_dev_eui",
    ),
    (_TTS, _changed(_TTS, {"uplink_message.frm_payload": "AWc*"}), "envelope.bad_base64"),
    (_CS, _changed(_CS, {"data": "DVQDL"}), "envelope.bad_base64"),
    (
        _TTS,
        _changed(_TTS, {"uplink_message": _DELETE, "join_accept": {"session_key_id": "AZ=="}}),
        "envelope.not_an_uplink",
    ),
    (_CS, _STATUS_EVENT, "envelope.not_an_uplink"),
    (_TTS, _changed(_TTS, {"simulated": True}), "envelope.simulated"),
    (
        _KPN,
        json.dumps([{"bn": "urn:dev:IMEI:356938035643809:", "n": "t", "v": 1}]).encode(),
        "envelope.unsupported_device_urn",
    ),
    (
        _KPN,
        json.dumps([{"bn": "urn:dev:DVNUUID:5f0e:", "n": "t", "v": 1}]).encode(),
        "envelope.unsupported_device_urn",
    ),
    (_KPN, _pack({"n": "payload", "vs": "01 0g"}), "envelope.bad_hex"),
    (_KPN, _pack({"n": "payload", "v": 1}), "envelope.bad_hex"),
    (
        _KPN,
        json.dumps([{"bn": "sensor-7:", "bt": 1741940100, "n": "t", "v": 1}]).encode(),
        "senml.bad_base_name",
    ),
    (_KPN, _pack({"n": "temperature", "v": 1, "ver_": 2}), "senml.must_understand"),
    (_KPN, _pack({"bver": 11, "n": "temperature", "v": 1}), "senml.unsupported_version"),
    (_KPN, _pack({"n": "temp erature", "v": 1}), "senml.bad_name"),
    (
        _KPN,
        json.dumps([{"n": "-temperature", "bt": 1741940100, "v": 1}]).encode(),
        "senml.bad_name",
    ),
    (_KPN, _pack({"v": 1}), "senml.bad_name"),
    (_KPN, _pack({"n": "temperature", "v": 1, "vs": "1"}), "senml.multiple_values"),
    (_KPN, _pack({"n": "temperature", "bv": 1e308, "v": 1e308}), "senml.bad_value"),
    (_KPN, b"[]", "senml.empty_pack"),
    (_KPN, _pack(), "senml.empty_pack"),
    (
        _KPN,
        _pack({"n": "t", "v": 1}, {"bn": "urn:dev:DEVEUI:0059AC000018F2B2:", "n": "t", "v": 1}),
        "senml.mixed_devices",
    ),
    (_KPN, _pack({"n": "port", "v": 1}, {"n": "port", "v": 2}), "senml.duplicate_record"),
]


@pytest.mark.parametrize(
    ("network", "payload", "detail"),
    _REJECTIONS,
    ids=[f"{detail}-{index}" for index, (_, _, detail) in enumerate(_REJECTIONS)],
)
def test_unusable_message_is_rejected_with_its_detail(
    network: Network, payload: bytes, detail: str
) -> None:
    with pytest.raises(EnvelopeError) as caught:
        ENVELOPES[network].decode(message_of(payload))
    assert caught.value.detail == detail


def test_missing_field_message_names_the_json_path() -> None:
    payload = _changed(_TTS, {"uplink_message.received_at": _DELETE, "received_at": _DELETE})
    with pytest.raises(EnvelopeError, match=r"uplink_message\.received_at is missing"):
        ENVELOPES[_TTS].decode(message_of(payload))


def test_nesting_of_exactly_the_limit_is_accepted() -> None:
    # object (1) > uplink_message (2) > decoded_payload (3) > 29 lists = 32 levels
    payload = _changed(_TTS, {"uplink_message.decoded_payload.deep": _nested(29)})
    assert ENVELOPES[_TTS].decode(message_of(payload)).decoded is not None


def test_json_decoder_recursion_error_becomes_too_deep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parsing, "_MAX_DEPTH", 10**9)  # let the document reach msgspec
    payload = _changed(_CS, {"unknownField": _nested(50_000)})
    with pytest.raises(EnvelopeError) as caught:
        ENVELOPES[_CS].decode(message_of(payload))
    assert caught.value.detail == "envelope.too_deep"


def test_time_a_day_ahead_of_arrival_is_accepted() -> None:
    payload = _changed(_CS, {"time": "2025-03-15T08:30:00Z"})
    uplink = ENVELOPES[_CS].decode(message_of(payload, received="2025-03-14T08:30:00Z"))
    assert uplink.time_ns == 1742027400 * 10**9


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    note = '"[{' * 40  # in JSON text \" : escaped quotes must not end the string early
    payload = _changed(_TTS, {"uplink_message.decoded_payload.note": note})
    assert ENVELOPES[_TTS].decode(message_of(payload)).decoded == {"note": note} | _DECODED
