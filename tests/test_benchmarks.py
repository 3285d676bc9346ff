"""`make bench` runs every benchmark module: each must import, be registered, and run to its
table. Session 2 added retention set-up to the sink and one benchmark then retried a refused
set-up for ever; only a run of `make bench` would have shown it, so each one runs here at a
size that takes seconds (the figures mean nothing at that size; the table must appear)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest

from benchmarks import (
    end_to_end,
    influx_clients,
    latency,
    mqtt_clients,
    processors,
    scaleout,
    state,
    transform,
    webhooks,
)

SMALL: dict[str, Callable[[], None]] = {
    "mqtt_clients": lambda: mqtt_clients.run(2_000, 1),
    "influx_clients": lambda: influx_clients.run(2_000, 1),
    "transform": lambda: transform.run(600, 1, 3),
    "end_to_end": lambda: end_to_end.run(2_000, 1),
    "latency": lambda: latency.run(500, 2.0, lead_s=8.0),
    "state": lambda: state.run((34,)),
    "processors": lambda: processors.run(
        readings=20_000, waste_readings=4_000, devices=100, memory_devices=100
    ),
    "webhooks": lambda: webhooks.run(40),
    "scaleout": lambda: scaleout.run(600, 1),
}


def test_every_benchmark_imports_and_is_registered() -> None:
    main = importlib.import_module("benchmarks.__main__")
    assert set(main.BENCHES) == set(SMALL)
    assert all(callable(run) for run in main.BENCHES.values())


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", list(SMALL))
def test_every_benchmark_runs_to_its_table(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    SMALL[name]()
    printed = capsys.readouterr().out
    assert "| " in printed, printed  # a table was printed
    assert "NO" not in printed.split(), printed  # processors: pandas and the processor agree
