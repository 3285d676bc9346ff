"""What the envelope parsers share: guarded JSON decoding, times, base64, DevEUIs, gateways.

Every function here raises ``EnvelopeError`` with a stable detail code and a message naming the
JSON path at fault; nothing else escapes.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Final, Literal, TypeVar

import msgspec
import numpy as np

from ingest.errors import EnvelopeError
from ingest.model import Gateway, Message

__all__ = [
    "FrameCounter",
    "FramePort",
    "check_time",
    "decode_base64",
    "decode_json",
    "merge_gateways",
    "normalise_dev_eui",
    "parse_time",
    "read_time",
]

T = TypeVar("T")

# LoRaWAN: the uplink frame counter is 32 bits wide (uplink-formats §5.1), FPort is one byte.
FrameCounter = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF_FFFF)]
FramePort = Annotated[int, msgspec.Meta(ge=0, le=0xFF)]

_MAX_BYTES: Final = 256 * 1024  # a TTS uplink with dozens of gateways is a few tens of KiB
_MAX_DEPTH: Final = 32
# A JSON string (RFC 8259 §7), or an unterminated one running to the end: it always matches
# from a quote, so stripping strings stays linear even on malformed input.
_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*\\?(?:"|\Z)')
# Maps '[' and '{' to +1 and ']' and '}' to -1 (as int8); every other byte is deleted.
_DEPTH_STEPS: Final = bytes(
    {ord("["): 1, ord("{"): 1, ord("]"): 0xFF, ord("}"): 0xFF}.get(b, 0) for b in range(256)
)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_OPENERS: Final = bytes(b for b in range(256) if b not in b"[{")
_SHAPES: Final = {
    "object": (b"{", "envelope.not_an_object"),
    "array": (b"[", "envelope.not_an_array"),
}

# RFC 3339 §5.6 date-time; "T" may be lower-case or a space (§5.6 NOTE).
_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
# LoRaWAN 1.0 was published in January 2015: no genuine uplink is older than 2015-01-01T00:00Z.
_EARLIEST_NS: Final = 1_420_070_400 * 1_000_000_000
_FUTURE_SLACK_NS: Final = 86_400 * 1_000_000_000
_URL_SAFE: Final = str.maketrans("-_", "+/")  # RFC 4648 §5 alphabet → §4 alphabet
_HEX16: Final = re.compile(r"[0-9A-Fa-f]{16}")


def decode_json(
    message: Message, decoder: msgspec.json.Decoder[T], top: Literal["object", "array"]
) -> T:
    """Decode ``message.payload`` with ``decoder`` after the size, UTF-8 and depth checks."""
    payload = message.payload
    if len(payload) > _MAX_BYTES:
        raise EnvelopeError(
            detail="envelope.too_large",
            message=f"{len(payload)} bytes is over the {_MAX_BYTES}-byte limit",
        )
    _check_utf8(payload)
    _check_depth(payload)
    opener, shape_detail = _SHAPES[top]
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        if payload.lstrip(b" \t\r\n")[:1] != opener:
            raise EnvelopeError(
                detail=shape_detail, message=f"the message must be a JSON {top}"
            ) from exc
        raise EnvelopeError(detail="envelope.bad_field", message=str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise EnvelopeError(
            detail="envelope.json_invalid", message=f"not valid JSON: {exc}"
        ) from exc
    except RecursionError as exc:
        raise _too_deep() from exc


def _check_utf8(payload: bytes) -> None:
    if payload.isascii():
        return
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(
            detail="envelope.not_utf8",
            message=f"not UTF-8 (RFC 8259 §8.1): byte {exc.start} is invalid",
        ) from exc


def _check_depth(payload: bytes) -> None:
    if len(payload.translate(None, _NOT_OPENERS)) <= _MAX_DEPTH:
        return  # cannot nest deeper than it has opening brackets
    brackets = _JSON_STRING.sub(b"", payload).translate(_DEPTH_STEPS, _NOT_BRACKETS)
    if brackets and int(np.frombuffer(brackets, dtype=np.int8).cumsum().max()) > _MAX_DEPTH:
        raise _too_deep()


def _too_deep() -> EnvelopeError:
    return EnvelopeError(
        detail="envelope.too_deep", message=f"JSON nests deeper than {_MAX_DEPTH} levels"
    )


def read_time(text: str | None, path: str, message: Message) -> int:
    """The RFC 3339 time at ``path`` as ns UTC, required and within the plausible range."""
    if text is None:
        raise EnvelopeError(detail="envelope.missing_field", message=f"{path} is missing")
    return check_time(parse_time(text, path), message, path)


def parse_time(text: str, path: str) -> int:
    """An RFC 3339 time as int ns since the epoch, UTC; digits beyond the ninth are dropped."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise _bad_time(text, path)
    year, month, day, hour, minute, second, fraction, sign, off_hour, off_minute = match.groups()
    try:
        days = _days(year, month, day)
    except ValueError:
        raise _bad_time(text, path) from None
    clock = _clock(hour, minute, second)
    offset = 0 if sign is None else _clock(off_hour, off_minute, "0")
    if clock < 0 or offset < 0:
        raise _bad_time(text, path)
    seconds = days * 86_400 + clock + (-offset if sign == "+" else offset)
    return seconds * 1_000_000_000 + int((fraction or "")[:9].ljust(9, "0"))


@functools.lru_cache(maxsize=4096)
def _days(year: str, month: str, day: str) -> int:
    """Days since 1970-01-01 (cached: a stream's uplinks share a few dates)."""
    return date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL


def _clock(hour: str, minute: str, second: str) -> int:
    """Seconds since midnight, or -1 if out of range (second 60 is a leap second, RFC 3339 §5.7)."""
    h, m, s = int(hour), int(minute), int(second)
    return h * 3600 + m * 60 + s if h <= 23 and m <= 59 and s <= 60 else -1


def _bad_time(text: str, path: str) -> EnvelopeError:
    return EnvelopeError(
        detail="envelope.bad_time", message=f"{path} is not an RFC 3339 time: {text[:64]!r}"
    )


def check_time(time_ns: int, message: Message, path: str) -> int:
    """``time_ns`` unchanged if it lies between 2015-01-01 and a day after the message arrived."""
    if _EARLIEST_NS <= time_ns <= message.received_ns + _FUTURE_SLACK_NS:
        return time_ns
    raise EnvelopeError(
        detail="envelope.time_out_of_range",
        message=f"{path} ({time_ns} ns) is before 2015-01-01 or more than a day after the message "
        f"arrived ({message.received_ns} ns); check the network server's clock",
    )


def decode_base64(text: str, path: str) -> bytes:
    """Base64 in either alphabet (RFC 4648 §4/§5), padded or not, strictly otherwise."""
    padded = text.translate(_URL_SAFE) + "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(padded, strict_mode=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise EnvelopeError(
            detail="envelope.bad_base64", message=f"{path} is not base64: {exc}"
        ) from exc


def normalise_dev_eui(text: str | None, path: str) -> str:
    """A DevEUI as 16 upper-case hex digits."""
    if text is None:
        raise EnvelopeError(detail="envelope.missing_field", message=f"{path} is missing")
    if _HEX16.fullmatch(text) is None:
        raise EnvelopeError(
            detail="envelope.bad_dev_eui",
            message=f"{path} must be 16 hex digits, got {text[:64]!r}",
        )
    return text.upper()


def merge_gateways(
    receptions: Iterable[tuple[str | None, float | None, float | None]],
) -> tuple[Gateway, ...]:
    """One ``Gateway`` per distinct id with its best RSSI and SNR, best RSSI first.

    ``receptions`` are ``(gateway id, rssi, snr)``; one without an id cannot be counted and is
    left out (uplink-formats §5.2: max RSSI/SNR, union of gateway ids).
    """
    best: dict[str, tuple[float | None, float | None]] = {}
    for gateway_id, rssi, snr in receptions:
        if gateway_id is None:
            continue
        seen = best.get(gateway_id)
        if seen is None:
            best[gateway_id] = (rssi, snr)
        else:
            best[gateway_id] = (_larger(seen[0], rssi), _larger(seen[1], snr))
    gateways = [Gateway(gateway_id, rssi, snr) for gateway_id, (rssi, snr) in best.items()]
    if len(gateways) > 1:
        gateways.sort(key=_rank)
    return tuple(gateways)


def _larger(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _rank(gateway: Gateway) -> tuple[bool, float, str]:
    rssi = gateway.rssi
    return (rssi is None, 0.0 if rssi is None else -rssi, gateway.gateway_id)
