"""Duplicate detection: (DevEUI, fCnt, payload) within a window of the injected clock."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from msgspec.structs import replace

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


def duplicate(seen: Deduplicator, uplink: Uplink) -> bool:
    return seen.remember(uplink) is None


def dedup(clock: FakeClock, window_s: float = 600.0, max_entries: int = 1000) -> Deduplicator:
    return Deduplicator(window_s, max_entries, clock)


def test_same_key_is_a_duplicate_whatever_the_path() -> None:
    seen = dedup(FakeClock())
    assert not duplicate(seen, UPLINK)
    other_path = replace(
        UPLINK, network=Network.CHIRPSTACK, time_ns=UPLINK.time_ns + 3 * SECOND, gateways=()
    )
    assert duplicate(seen, other_path)
    assert duplicate(seen, UPLINK)
    assert len(seen) == 1


def test_device_reset_with_new_payload_is_not_a_duplicate() -> None:
    seen = dedup(FakeClock())
    assert not duplicate(seen, UPLINK)
    assert not duplicate(seen, replace(UPLINK, payload=b"\x09\x09"))
    assert not duplicate(seen, replace(UPLINK, f_cnt=43))
    assert not duplicate(seen, replace(UPLINK, dev_eui="70B3D57ED0CA51CF"))
    assert len(seen) == 4


def test_without_fcnt_the_uplink_time_is_the_counter() -> None:
    seen = dedup(FakeClock())
    assert not duplicate(seen, KPN)
    assert duplicate(seen, replace(KPN))
    assert not duplicate(seen, replace(KPN, time_ns=KPN.time_ns + SECOND))


def test_without_payload_the_records_are_the_content() -> None:
    seen = dedup(FakeClock())
    assert not duplicate(seen, KPN)
    changed = (replace(KPN.records[0], value=22.0),)
    assert not duplicate(seen, replace(KPN, records=changed))


def test_without_payload_the_decoded_object_is_the_content() -> None:
    seen = dedup(FakeClock())
    decoded = replace(UPLINK, payload=b"", decoded={"pm25": 3.0, "pm10": 5.0})
    assert not duplicate(seen, decoded)
    assert duplicate(seen, replace(decoded, decoded={"pm10": 5.0, "pm25": 3.0}))
    assert not duplicate(seen, replace(decoded, decoded={"pm25": 4.0, "pm10": 5.0}))


def test_keys_expire_after_the_window() -> None:
    clock = FakeClock()
    seen = dedup(clock, window_s=600.0)
    assert not duplicate(seen, UPLINK)
    clock.advance(600.0)
    assert duplicate(seen, UPLINK)  # exactly the window: still remembered
    clock.advance(0.001)
    assert not duplicate(seen, UPLINK)  # forgotten, then remembered again
    assert len(seen) == 1


def test_expiry_forgets_old_keys_only() -> None:
    clock = FakeClock()
    seen = dedup(clock, window_s=10.0)
    assert not duplicate(seen, UPLINK)
    clock.advance(6.0)
    assert not duplicate(seen, replace(UPLINK, f_cnt=43))
    clock.advance(6.0)
    assert not duplicate(seen, replace(UPLINK, f_cnt=44))
    assert len(seen) == 2
    assert duplicate(seen, replace(UPLINK, f_cnt=43))


def test_memory_is_bounded_oldest_first() -> None:
    seen = dedup(FakeClock(), max_entries=5)
    for f_cnt in range(50):
        assert not duplicate(seen, replace(UPLINK, f_cnt=f_cnt))
        assert len(seen) <= 5
    assert len(seen) == 5
    assert duplicate(seen, replace(UPLINK, f_cnt=49))
    assert not duplicate(seen, replace(UPLINK, f_cnt=0))  # evicted


def test_journaled_keys_survive_a_crash_and_expire_on_time(tmp_path: Path) -> None:
    clock = FakeClock()
    journal = tmp_path / "state" / "dedup.journal"
    before = Deduplicator(600, 1000, clock, journal=journal)
    before.open()
    zeros = replace(UPLINK, payload=b"\x00" * 16)  # digests and payloads with NUL bytes survive
    keys = [before.remember(u) for u in (UPLINK, KPN, zeros)]
    before.journal([k for k in keys[:2] if k is not None])  # the third batch never got durable
    with journal.open("ab") as handle:
        handle.write(b"\x01\x02")  # a torn record from a crash mid-append
    after = Deduplicator(600, 1000, clock, journal=journal)
    after.open()
    assert duplicate(after, UPLINK)
    assert duplicate(after, KPN)
    assert not duplicate(after, zeros)  # not journaled: its redelivery must be stored
    clock.advance(601)
    again = Deduplicator(600, 1000, clock, journal=journal)
    again.open()  # compaction drops what left the window
    assert len(again) == 0
    assert journal.stat().st_size == 0


def test_without_a_journal_nothing_is_written(tmp_path: Path) -> None:
    seen = dedup(FakeClock())
    seen.open()
    key = seen.remember(UPLINK)
    assert key is not None
    seen.journal([key])
    assert list(tmp_path.iterdir()) == []


def test_journals_of_the_tuple_key_release_still_load(tmp_path: Path) -> None:
    """The record layout on disk is unchanged: DevEUI, counter, BLAKE2b-128, first seen."""
    clock = FakeClock()
    journal = tmp_path / "dedup.journal"
    digest = hashlib.blake2b(UPLINK.payload, digest_size=16).digest()
    journal.write_bytes(struct.pack("!16sq16sq", b"70B3D57ED0CA51CE", 42, digest, clock.ns))
    seen = Deduplicator(600, 1000, clock, journal=journal)
    seen.open()
    assert duplicate(seen, UPLINK)
    assert not duplicate(seen, replace(UPLINK, f_cnt=43))
