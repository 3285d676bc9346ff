"""Fixtures of the decoder tests: the shipped layouts file, loaded once."""

from __future__ import annotations

import pytest

from ingest.decoders import DecoderConfig, build_decoders, load_config
from ingest.readings import Decoder

from .helpers import CONFIG_PATH


@pytest.fixture(scope="session")
def config() -> DecoderConfig:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def decoders(config: DecoderConfig) -> dict[str, Decoder]:
    return build_decoders(config)
