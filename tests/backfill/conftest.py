"""Fixtures of the backfill tests: simulated TTS uplinks and the Storage Integration stub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.decoders import decoder_kinds, load_config
from ingest.registry import load_registry
from simulators.stream import Publication, Scenario, generate
from tests.backfill.tts_storage_stub import TtsStorageStub
from tests.e2e import DECODERS, make_registry

APPLICATION = "city-sensors"
API_KEY = "NNSXS.STUB-KEY-FOR-TESTS"
START_NS = 1_772_445_600 * 1_000_000_000  # 2026-03-02T10:00:00Z


def tts_uplinks(workdir: Path, messages: int, seed: int = 5) -> list[Publication]:
    """``messages`` clean TTS uplinks of a 12-device fleet (registry in ``workdir``), in time
    order: no malformed messages, duplicates, losses or rejoins."""
    make_registry(workdir, devices=12, seed=seed)
    config = load_config(DECODERS)
    devices = list(load_registry(workdir / "devices.csv", decoder_kinds(config)))
    scenario = Scenario(
        network="tts",
        messages=messages,
        seed=seed,
        start_ns=START_NS,
        malformed=0.0,
        duplicates=0.0,
        lost=0.0,
        resets=0.0,
    )
    return list(generate(scenario, devices, config))


@pytest.fixture
def storage_stub() -> Iterator[TtsStorageStub]:
    with TtsStorageStub(APPLICATION, API_KEY) as stub:
        yield stub
