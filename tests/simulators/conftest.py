"""Fixtures for the simulator tests: the shipped decoder layouts and a small seeded fleet."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ingest.decoders.config import DecoderConfig, load_config
from ingest.model import Device
from simulators.fleet import generate_fleet
from simulators.stream import Publication, Scenario, generate
from tests.simulators.helpers import CONFIG, START_NS, Build


@pytest.fixture(scope="session")
def decoders() -> DecoderConfig:
    return load_config(CONFIG / "decoders.toml")


@pytest.fixture(scope="session")
def fleet() -> list[Device]:
    return generate_fleet(3, seed=5)


@pytest.fixture
def build(decoders: DecoderConfig, fleet: list[Device]) -> Build:
    """Pre-build a scenario's messages; keyword arguments override the Scenario defaults."""

    def _build(devices: Sequence[Device] | None = None, **overrides: object) -> list[Publication]:
        settings: dict[str, object] = {
            "network": "mixed",
            "messages": 300,
            "seed": 11,
            "start_ns": START_NS,
        }
        settings.update(overrides)
        scenario = Scenario(**settings)  # type: ignore[arg-type]
        return list(generate(scenario, fleet if devices is None else devices, decoders))

    return _build
