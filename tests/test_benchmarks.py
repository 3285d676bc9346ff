"""`make bench` runs every benchmark module: they must at least import (a renamed helper in
one benchmark once broke another, and nothing but `make bench` would have noticed)."""

from __future__ import annotations

import importlib


def test_every_benchmark_imports_and_is_registered() -> None:
    main = importlib.import_module("benchmarks.__main__")
    assert set(main.BENCHES) == {
        "mqtt_clients",
        "influx_clients",
        "transform",
        "end_to_end",
        "latency",
        "state",
        "processors",
        "webhooks",
        "scaleout",
    }
    assert all(callable(run) for run in main.BENCHES.values())
