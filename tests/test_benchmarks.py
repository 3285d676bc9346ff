"""`make bench` runs every benchmark module: each must import, be registered, and run to its
table. Session 2 added retention set-up to the sink and one benchmark then retried a refused
set-up for ever; only a run of `make bench` would have shown it, so each one runs here at a
size that takes seconds (the figures mean nothing at that size; the table must appear)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

BENCHES = importlib.import_module("benchmarks.__main__").BENCHES
SMALL: dict[str, dict[str, Any]] = {  # each benchmark's run() arguments for a run of seconds
    "mqtt_clients": {"count": 2_000, "repetitions": 1},
    "influx_clients": {"count": 2_000, "repetitions": 1},
    "transform": {"count": 600, "repetitions": 1, "top": 3},
    "end_to_end": {"count": 2_000, "repetitions": 1},
    "latency": {"rate": 500, "seconds": 2.0, "lead_s": 8.0},
    "state": {"sizes": (34,)},
    "processors": {
        "readings": 20_000,
        "waste_readings": 4_000,
        "devices": 100,
        "memory_devices": 100,
    },
    "webhooks": {"requests": 40},
    "scaleout": {"count": 600, "repetitions": 1},
}


def test_every_benchmark_imports_and_is_registered() -> None:
    assert set(BENCHES) == set(SMALL)
    assert all(callable(run) for run in BENCHES.values())


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", list(SMALL))
def test_every_benchmark_runs_to_its_table(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    BENCHES[name](**SMALL[name])
    printed = capsys.readouterr().out
    assert "| " in printed, printed  # a table was printed
    assert "NO" not in printed.split(), printed  # processors: pandas and the processor agree
