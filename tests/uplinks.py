"""Clean simulated uplinks of one network, as its network server renders them."""

from __future__ import annotations

from pathlib import Path

from ingest.decoders import decoder_kinds, load_config
from ingest.registry import load_registry
from simulators.stream import Publication, Scenario, generate
from tests.e2e import DECODERS, make_registry

START_NS = 1_772_445_600 * 1_000_000_000  # 2026-03-02T10:00:00Z


def clean_uplinks(workdir: Path, network: str, messages: int, seed: int = 5) -> list[Publication]:
    """``messages`` uplinks of a 12-device fleet (registry written to ``workdir``), in time
    order: no malformed messages, duplicates, losses or rejoins."""
    make_registry(workdir, devices=12, seed=seed)
    config = load_config(DECODERS)
    devices = list(load_registry(workdir / "devices.csv", decoder_kinds(config)))
    scenario = Scenario.clean(network, messages, seed, START_NS)
    return list(generate(scenario, devices, config))
