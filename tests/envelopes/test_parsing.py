"""The shared helpers against simple references: RFC 3339 times, base64, DevEUIs, gateways."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.envelopes._parsing import (
    decode_base64,
    merge_gateways,
    normalise_dev_eui,
    parse_time,
)
from ingest.errors import EnvelopeError

from .golden import ns_of

_PROPERTY = settings(max_examples=300, deadline=None, database=None)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@_PROPERTY
@given(
    time_ns=st.integers(0, 2**62),
    offset_minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    digits=st.integers(0, 9),
    separator=st.sampled_from("Tt "),
)
def test_parse_time_matches_datetime_arithmetic(
    time_ns: int, offset_minutes: int, digits: int, separator: str
) -> None:
    time_ns -= time_ns % 10 ** (9 - digits)  # what `digits` fractional digits can carry
    local = _EPOCH + timedelta(seconds=time_ns // 10**9, minutes=offset_minutes)
    fraction = f"{time_ns % 10**9:09d}"[:digits]
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = (
        local.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
        + (f".{fraction}" if digits else "")
        + f"{sign}{hours:02d}:{minutes:02d}"
    )
    assert parse_time(text, "t") == time_ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-14T08:15:02.266731904Z", "2025-03-14T08:15:02.266731904Z"),
        ("2025-03-14T09:31:05.118+01:00", "2025-03-14T08:31:05.118Z"),
        ("2025-03-14T08:15:02.2667319049999z", "2025-03-14T08:15:02.266731904Z"),
        ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z"),  # leap second (RFC 3339 §5.7)
        ("2025-03-14T08:15:02-00:00", "2025-03-14T08:15:02Z"),
    ],
)
def test_parse_time_examples(text: str, expected: str) -> None:
    assert parse_time(text, "t") == ns_of(expected)


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-29T00:00:00Z",
        "2025-03-14T24:00:00Z",
        "2025-03-14T08:60:00Z",
        "2025-03-14T08:15:61Z",
        "2025-03-14T08:15:02+24:00",
        "2025-03-14T08:15:02+01:60",
        "2025-03-14T08:15:02",
        "2025-03-14T08:15:02.Z",
        "0000-01-01T00:00:00Z",
        "２０２５-03-14T08:15:02Z",
        " 2025-03-14T08:15:02Z",
    ],
)
def test_parse_time_rejects_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_time(text, "uplink_message.received_at")
    assert caught.value.detail == "envelope.bad_time"
    assert "uplink_message.received_at" in caught.value.message


@_PROPERTY
@given(data=st.binary(max_size=64), url_safe=st.booleans(), padded=st.booleans())
def test_decode_base64_reads_both_alphabets_padded_or_not(
    data: bytes, url_safe: bool, padded: bool
) -> None:
    text = (base64.urlsafe_b64encode if url_safe else base64.b64encode)(data).decode()
    assert decode_base64(text if padded else text.rstrip("="), "data") == data


@pytest.mark.parametrize("text", ["A", "AQ=A", "AQ==AQ==", "AQ= =", "AQ\n==", "é===", "AQ*="])
def test_decode_base64_rejects_malformed_text(text: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        decode_base64(text, "data")
    assert caught.value.detail == "envelope.bad_base64"


def test_normalise_dev_eui_upper_cases_and_checks() -> None:
    assert normalise_dev_eui("a84041000181c3d2", "d") == "A84041000181C3D2"
    for bad in ("a84041000181c3d", "a84041000181c3d2a", "a8-4041000181c3d2", "ａ84041000181c3d2"):
        with pytest.raises(EnvelopeError) as caught:
            normalise_dev_eui(bad, "d")
        assert caught.value.detail == "envelope.bad_dev_eui"


_RECEPTION = st.tuples(
    st.one_of(st.none(), st.sampled_from(["gw-a", "gw-b", "gw-c"])),
    st.one_of(st.none(), st.integers(-140, -20).map(float)),
    st.one_of(st.none(), st.floats(-20, 15, allow_nan=False)),
)


@_PROPERTY
@given(receptions=st.lists(_RECEPTION, max_size=8))
def test_merge_gateways_keeps_the_best_reception_per_gateway(
    receptions: list[tuple[str | None, float | None, float | None]],
) -> None:
    merged = merge_gateways(receptions)

    ids = [gateway.gateway_id for gateway in merged]
    assert sorted(ids) == sorted({gid for gid, _, _ in receptions if gid is not None})
    for gateway in merged:
        rssis = [r for gid, r, _ in receptions if gid == gateway.gateway_id and r is not None]
        snrs = [s for gid, _, s in receptions if gid == gateway.gateway_id and s is not None]
        assert gateway.rssi == (max(rssis) if rssis else None)
        assert gateway.snr == (max(snrs) if snrs else None)
    known = [gateway.rssi for gateway in merged if gateway.rssi is not None]
    assert known == sorted(known, reverse=True)
    assert [gateway.rssi for gateway in merged[len(known) :]] == [None] * (len(ids) - len(known))
