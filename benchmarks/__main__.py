"""Run benchmarks by name (default: all) and print their tables."""

from __future__ import annotations

import sys

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

BENCHES = {
    "mqtt_clients": mqtt_clients.run,
    "influx_clients": influx_clients.run,
    "transform": transform.run,
    "end_to_end": end_to_end.run,
    "latency": latency.run,
    "state": state.run,
    "processors": processors.run,
    "webhooks": webhooks.run,
    "scaleout": scaleout.run,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    for name in names:
        BENCHES[name]()
