"""Helpers shared by the decoder tests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingest.model import Network, SenmlRecord, Uplink
from ingest.readings import DecodedBatch

CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "decoders.toml"
TIME_NS = 1_741_940_100_000_000_000  # 2025-03-14T08:15:00Z


def uplink(
    payload: bytes = b"",
    *,
    f_port: int | None = 1,
    time_ns: int = TIME_NS,
    decoded: Mapping[str, Any] | None = None,
    records: tuple[SenmlRecord, ...] = (),
) -> Uplink:
    """An uplink with the given application data and neutral metadata."""
    return Uplink(
        network=Network.TTS,
        dev_eui="70B3D57ED005A1F3",
        time_ns=time_ns,
        f_cnt=1,
        f_port=f_port,
        payload=payload,
        decoded=decoded,
        records=records,
    )


def row(batch: DecodedBatch, index: int = 0) -> dict[str, float]:
    """Row ``index`` of a batch as a dict of its non-NaN fields."""
    values = {name: float(column[index]) for name, column in batch.columns.items()}
    return {name: value for name, value in values.items() if not math.isnan(value)}


def only_error(batch: DecodedBatch) -> str:
    """The detail code of a one-uplink batch that failed; asserts it produced no row."""
    assert len(batch) == 0
    [(index, error)] = batch.errors
    assert index == 0
    return error.detail
