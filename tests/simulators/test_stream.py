"""The message stream: deterministic, and its manifest agrees with what was generated."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import orjson
import pytest

from ingest.model import Device, Kind, Network, Outcome
from ingest.schema import fields_of
from simulators.faults import Duplicate, Malformation
from simulators.manifest import manifest_line
from simulators.stream import DEFAULT_INTERVALS_S, Publication, Scenario, default_start
from tests.simulators.helpers import START_NS, Build

MANIFEST_KEYS = [
    "seq",
    "topic",
    "network",
    "dev_eui",
    "device_id",
    "kind",
    "f_cnt",
    "time_ns",
    "values",
    "fault",
    "expect",
    "reason",
    "detail",
]


def _bytes(publications: list[Publication]) -> list[tuple[str, bytes, bytes]]:
    return [(p.topic, p.payload, manifest_line(p.entry)) for p in publications]


def test_same_seed_gives_byte_identical_messages_and_manifest(build: Build) -> None:
    first = _bytes(build(seed=3, malformed=0.2, duplicates=0.1))
    assert first == _bytes(build(seed=3, malformed=0.2, duplicates=0.1))
    other = _bytes(build(seed=4, malformed=0.2, duplicates=0.1))
    assert [m[1] for m in first] != [m[1] for m in other]


def test_manifest_lines_have_the_contract_fields(build: Build) -> None:
    publications = build(messages=50)
    for seq, publication in enumerate(publications):
        line = manifest_line(publication.entry)
        assert line.endswith(b"\n")
        entry = orjson.loads(line)
        assert list(entry) == MANIFEST_KEYS
        assert entry["seq"] == seq
        assert entry["topic"] == publication.topic


def _within(count: int, total: int, fraction: float) -> bool:
    """``count`` is within five binomial standard deviations of ``total * fraction``."""
    spread = 5 * math.sqrt(total * fraction * (1 - fraction)) + 1
    return abs(count - total * fraction) <= spread


@pytest.mark.parametrize("network", ["tts", "chirpstack", "kpn", "mixed"])
def test_expectations_match_the_faults_and_fractions(build: Build, network: str) -> None:
    publications = build(network=network, messages=2000, malformed=0.1, duplicates=0.05)
    entries = [p.entry for p in publications]
    assert len(entries) == 2000
    faults = Counter(
        "duplicate" if e.fault in set(Duplicate) else "malformed" if e.fault else None
        for e in entries
    )
    assert _within(faults["duplicate"], 2000, 0.05)
    assert _within(faults["malformed"], 2000, 0.1)
    expected = {
        None: Outcome.WRITTEN,
        "duplicate": Outcome.DUPLICATE,
        "malformed": Outcome.DEAD_LETTER,
    }
    outcomes = Counter(e.expect for e in entries)
    assert outcomes == Counter({expected[k]: n for k, n in faults.items()})
    for entry in entries:
        assert (entry.reason is None) == (entry.expect is not Outcome.DEAD_LETTER)
        assert (entry.detail is None) == (entry.reason is None)
        assert bool(entry.values) == (entry.expect is Outcome.WRITTEN)
        if network != "mixed":
            assert entry.network == network


def test_duplicates_repeat_a_recent_written_uplink(build: Build) -> None:
    publications = build(messages=1500, malformed=0.05, duplicates=0.1)
    written: dict[tuple[str, int | None, int], int] = {}
    kinds: Counter[tuple[str | None, Network]] = Counter()
    for publication in publications:
        entry = publication.entry
        key = (entry.dev_eui, entry.f_cnt, entry.time_ns)
        if entry.expect is Outcome.WRITTEN:
            written[key] = entry.seq
            continue
        if entry.expect is not Outcome.DUPLICATE:
            continue
        kinds[entry.fault, entry.network] += 1
        if entry.fault == Duplicate.REPUBLISHED:
            original = publications[written[key]]
            assert (original.topic, original.payload) == (publication.topic, publication.payload)
            assert entry.seq - original.entry.seq <= 20
            continue
        assert entry.fault == Duplicate.SECOND_PATH
        match = [
            s
            for (eui, f_cnt, t), s in written.items()
            if eui == entry.dev_eui
            and f_cnt == entry.f_cnt
            and (entry.f_cnt is not None or t == entry.time_ns)
        ]
        assert match
        original = publications[max(match)]
        assert original.payload != publication.payload
        assert original.topic == publication.topic
        assert 0 <= entry.time_ns - original.entry.time_ns < 10_000_000_000
    assert {fault for fault, _ in kinds} == set(Duplicate)
    assert {network for _, network in kinds} == set(Network)


def _counters(publications: list[Publication]) -> dict[str, list[int]]:
    counters: dict[str, list[int]] = {}
    for publication in publications:
        entry = publication.entry
        if entry.fault not in set(Duplicate) and entry.fault != Malformation.UNKNOWN_DEVICE:
            assert entry.f_cnt is not None
            counters.setdefault(entry.dev_eui, []).append(entry.f_cnt)
    return counters


def test_frame_counters_increase_with_gaps_and_resets(build: Build) -> None:
    publications = build(network="tts", messages=2000, lost=0.05, resets=0.01)
    gaps = resets = 0
    for counters in _counters(publications).values():
        for previous, current in itertools.pairwise(counters):
            if current <= previous:  # rejoined: counting again from 0 (that one maybe lost)
                assert current < 5
                resets += 1
            else:
                gaps += current - previous - 1
    assert _within(gaps, 2000, 0.05)
    assert resets >= 5
    zero = [p for p in publications if p.entry.f_cnt == 0 and p.entry.fault is None]
    assert zero
    for publication in zero:
        assert "f_cnt" not in orjson.loads(publication.payload)["uplink_message"]


def test_written_values_stay_within_physical_ranges(build: Build) -> None:
    for publication in build(messages=1500, malformed=0.0):
        entry = publication.entry
        fields = fields_of(entry.kind)
        for name, value in entry.values.items():
            assert fields[name].low <= value <= fields[name].high


def test_times_move_forward_per_device_from_the_start(build: Build) -> None:
    last: dict[str, int] = {}
    for publication in build(messages=800, duplicates=0.0):
        entry = publication.entry
        assert entry.time_ns >= START_NS
        if entry.device_id is not None:
            assert entry.time_ns > last.get(entry.dev_eui, 0)
            last[entry.dev_eui] = entry.time_ns


def test_default_start_ends_the_span_before_now(fleet: list[Device]) -> None:
    now = START_NS + 1_234 * 1_000_000_000
    start = default_start(fleet, 1000, DEFAULT_INTERVALS_S, now)
    assert start % 3_600_000_000_000 == 0
    per_hour = sum(3600 / DEFAULT_INTERVALS_S[d.kind] for d in fleet)
    assert now - start >= 1000 / per_hour * 3_600_000_000_000


@pytest.mark.parametrize(
    "overrides",
    [
        {"malformed": 0.7, "duplicates": 0.5},
        {"lost": -0.1},
        {"network": "lorawan"},
        {"faults": {"out_of_range": 2.0}},
    ],
)
def test_scenario_rejects_impossible_settings(overrides: dict[str, object]) -> None:
    settings: dict[str, object] = {"network": "tts", "messages": 1, "seed": 1, "start_ns": 0}
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Scenario(**{**settings, **overrides})  # type: ignore[arg-type]


def test_intervals_set_the_report_rate(build: Build, fleet: list[Device]) -> None:
    publications = build(
        messages=600,
        malformed=0.0,
        duplicates=0.0,
        lost=0.0,
        intervals_s={Kind.AIR: 60.0, Kind.NOISE: 600.0, Kind.WASTE: 600.0},
    )
    by_kind = Counter(p.entry.kind for p in publications)
    assert by_kind[Kind.AIR] > 5 * by_kind[Kind.NOISE]
