"""Duplicate detection: (DevEUI, fCnt, payload) within a window of the injected clock."""

from __future__ import annotations

from dataclasses import replace

from ingest.dedup import Deduplicator
from ingest.model import Gateway, Network, SenmlRecord, Uplink

SECOND = 1_000_000_000
UPLINK = Uplink(
    network=Network.TTS,
    dev_eui="70B3D57ED0CA51CE",
    time_ns=1_700_000_000 * SECOND,
    f_cnt=42,
    f_port=1,
    payload=b"\x01\x02\x03",
    gateways=(Gateway("gw-1", -80.0, 7.5),),
)
KPN = Uplink(
    network=Network.KPN,
    dev_eui="0059AC000018F2B1",
    time_ns=1_700_000_000 * SECOND,
    f_cnt=None,
    f_port=None,
    payload=b"",
    records=(SenmlRecord("temperature", "Cel", 21.5, 1_700_000_000 * SECOND),),
)


class FakeClock:
    def __init__(self) -> None:
        self.ns = 1_700_000_000 * SECOND

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * SECOND)


def dedup(clock: FakeClock, window_s: float = 600.0, max_entries: int = 1000) -> Deduplicator:
    return Deduplicator(window_s, max_entries, clock)


def test_same_key_is_a_duplicate_whatever_the_path() -> None:
    seen = dedup(FakeClock())
    assert not seen.is_duplicate(UPLINK)
    other_path = replace(
        UPLINK, network=Network.CHIRPSTACK, time_ns=UPLINK.time_ns + 3 * SECOND, gateways=()
    )
    assert seen.is_duplicate(other_path)
    assert seen.is_duplicate(UPLINK)
    assert len(seen) == 1


def test_device_reset_with_new_payload_is_not_a_duplicate() -> None:
    seen = dedup(FakeClock())
    assert not seen.is_duplicate(UPLINK)
    assert not seen.is_duplicate(replace(UPLINK, payload=b"\x09\x09"))
    assert not seen.is_duplicate(replace(UPLINK, f_cnt=43))
    assert not seen.is_duplicate(replace(UPLINK, dev_eui="70B3D57ED0CA51CF"))
    assert len(seen) == 4


def test_without_fcnt_the_uplink_time_is_the_counter() -> None:
    seen = dedup(FakeClock())
    assert not seen.is_duplicate(KPN)
    assert seen.is_duplicate(replace(KPN))
    assert not seen.is_duplicate(replace(KPN, time_ns=KPN.time_ns + SECOND))


def test_without_payload_the_records_are_the_content() -> None:
    seen = dedup(FakeClock())
    assert not seen.is_duplicate(KPN)
    changed = (replace(KPN.records[0], value=22.0),)
    assert not seen.is_duplicate(replace(KPN, records=changed))


def test_without_payload_the_decoded_object_is_the_content() -> None:
    seen = dedup(FakeClock())
    decoded = replace(UPLINK, payload=b"", decoded={"pm25": 3.0, "pm10": 5.0})
    assert not seen.is_duplicate(decoded)
    assert seen.is_duplicate(replace(decoded, decoded={"pm10": 5.0, "pm25": 3.0}))
    assert not seen.is_duplicate(replace(decoded, decoded={"pm25": 4.0, "pm10": 5.0}))


def test_keys_expire_after_the_window() -> None:
    clock = FakeClock()
    seen = dedup(clock, window_s=600.0)
    assert not seen.is_duplicate(UPLINK)
    clock.advance(600.0)
    assert seen.is_duplicate(UPLINK)  # exactly the window: still remembered
    clock.advance(0.001)
    assert not seen.is_duplicate(UPLINK)  # forgotten, then remembered again
    assert len(seen) == 1


def test_expiry_forgets_old_keys_only() -> None:
    clock = FakeClock()
    seen = dedup(clock, window_s=10.0)
    assert not seen.is_duplicate(UPLINK)
    clock.advance(6.0)
    assert not seen.is_duplicate(replace(UPLINK, f_cnt=43))
    clock.advance(6.0)
    assert not seen.is_duplicate(replace(UPLINK, f_cnt=44))
    assert len(seen) == 2
    assert seen.is_duplicate(replace(UPLINK, f_cnt=43))


def test_memory_is_bounded_oldest_first() -> None:
    seen = dedup(FakeClock(), max_entries=5)
    for f_cnt in range(50):
        assert not seen.is_duplicate(replace(UPLINK, f_cnt=f_cnt))
        assert len(seen) <= 5
    assert len(seen) == 5
    assert seen.is_duplicate(replace(UPLINK, f_cnt=49))
    assert not seen.is_duplicate(replace(UPLINK, f_cnt=0))  # evicted


def test_snapshot_carries_keys_and_their_age_across_a_restart() -> None:
    clock = FakeClock()
    before = dedup(clock)
    zeros = replace(UPLINK, payload=b"\x00" * 16)  # digests and payloads with NUL bytes survive
    for uplink in (UPLINK, KPN, zeros):
        assert not before.is_duplicate(uplink)
    after = dedup(clock)
    after.restore(before.snapshot())
    assert len(after) == 3
    assert after.is_duplicate(zeros)
    assert after.is_duplicate(KPN)
    clock.advance(601)  # the first-seen times came along: the window still ends on time
    assert not after.is_duplicate(UPLINK)


def test_empty_snapshot() -> None:
    after = dedup(FakeClock())
    after.restore(dedup(FakeClock()).snapshot())
    assert len(after) == 0
