"""Identifiers and timestamps, checked against plain references with hypothesis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulators.identifiers import name_uuid, random_uuid, rfc3339, ulid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
times_ns = st.integers(min_value=1_420_070_400 * 10**9, max_value=4_102_444_800 * 10**9 - 1)


@given(times_ns)
def test_rfc3339_prints_nine_fractional_digits(time_ns: int) -> None:
    seconds, nanos = divmod(time_ns, 10**9)
    reference = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    assert rfc3339(time_ns) == f"{reference}.{nanos:09d}Z"
    assert rfc3339(time_ns, "+00:00") == f"{reference}.{nanos:09d}+00:00"


@given(times_ns, times_ns, st.integers(0, 2**32 - 1))
def test_ulid_encodes_the_millisecond_and_sorts_by_it(a: int, b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    first, second = ulid(a, rng), ulid(b, rng)
    for text, time_ns in ((first, a), (second, b)):
        assert len(text) == 26
        assert set(text) <= set(CROCKFORD)
        millis = 0
        for char in text[:10]:
            millis = millis * 32 + CROCKFORD.index(char)
        assert millis == time_ns // 1_000_000
    if a // 1_000_000 != b // 1_000_000:
        assert (first < second) == (a < b)


@given(st.integers(0, 2**32 - 1))
def test_random_uuids_are_version_4_and_reproducible(seed: int) -> None:
    text = random_uuid(np.random.default_rng(seed))
    parsed = uuid.UUID(text)
    assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert text == random_uuid(np.random.default_rng(seed))


def test_name_uuids_are_stable_per_name() -> None:
    assert name_uuid("zaanstad/tenant") == name_uuid("zaanstad/tenant")
    assert name_uuid("zaanstad/tenant") != name_uuid("zaanstad/application/air")
    assert uuid.UUID(name_uuid("x")).version == 5
