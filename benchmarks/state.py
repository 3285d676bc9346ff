"""Scale of state: the service's memory and start-up time with 1,000 and 100,000 devices.

For each fleet size a registry is written with ``simulators.fleet`` (a third of each kind) and
the real service (``city-ingest run``) started on it against a fresh Mosquitto and InfluxDB 1.x.
Start-up is the time from launching the process to ``/readyz`` answering 200. Then a burst of
uplinks touches every registered device once (the first report of each device in a mixed-network
scenario, stamped within the last ten minutes so their windows stay open), and once
``/metrics`` accounts for all of them, VmRSS (resident now) and VmHWM (peak resident) of the
service process are read from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.table import print_table
from ingest.decoders import DecoderConfig, load_config
from ingest.model import Device, Kind
from simulators.fastpub import fast_publish
from simulators.fleet import generate_fleet, write_fleet
from simulators.servers import InfluxV1, Mosquitto, wait_until
from simulators.servers.process import CONFIG_DIR
from simulators.servers.service import CityIngest
from simulators.stream import MIXED, Scenario, generate

__all__ = ["run"]

_INTERVAL_S = 600.0
_NS = 1_000_000_000
_QUOTE = '"'  # around a Prometheus label value


def _burst(devices: list[Device], decoders: DecoderConfig) -> list[tuple[str, bytes]]:
    """One uplink per device: each device's first report, all within the last interval."""
    scenario = Scenario(
        network=MIXED,
        messages=2 * len(devices),
        seed=11,
        start_ns=time.time_ns() - int(_INTERVAL_S * _NS),
        malformed=0.0,
        duplicates=0.0,
        lost=0.0,
        resets=0.0,
        intervals_s=dict.fromkeys(Kind, _INTERVAL_S),
    )
    firsts: dict[str, tuple[str, bytes]] = {}
    for publication in generate(scenario, devices, decoders):
        firsts.setdefault(publication.entry.dev_eui, (publication.topic, publication.payload))
        if len(firsts) == len(devices):
            break
    return list(firsts.values())


def _status_kib(pid: int) -> dict[str, int]:
    """The ``Vm*`` sizes (KiB) of ``/proc/<pid>/status``."""
    sizes: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm"):
            sizes[key] = int(value.split()[0])
    return sizes


def _measure(per_kind: int, decoders: DecoderConfig) -> tuple[str, ...]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-state-") as tmp,
        Mosquitto() as broker,
        InfluxV1() as influx,
    ):
        workdir = Path(tmp)
        influx.create_database("city")
        devices = generate_fleet(per_kind, seed=11)
        write_fleet(devices, workdir / "devices.csv")
        messages = _burst(devices, decoders)
        service = CityIngest(
            workdir, mqtt_port=broker.port, influx_url=influx.url, startup_timeout=300.0
        )
        began = time.perf_counter()
        with service:
            startup = time.perf_counter() - began
            idle = _status_kib(service.pid)["VmRSS"]
            fast_publish("127.0.0.1", broker.port, messages, client_id="bench-state")
            wait_until(lambda: _accounted(service) >= len(messages), 600, interval=0.5)
            after = _status_kib(service.pid)
            outcomes = _outcomes(service)
    return (
        f"{len(devices):,}",
        f"{len(messages):,}",
        f"{startup:.2f}",
        f"{idle / 1024:.0f}",
        f"{after['VmRSS'] / 1024:.0f}",
        f"{after['VmHWM'] / 1024:.0f}",
        outcomes,
    )


def _accounted(service: CityIngest) -> float:
    """Uplinks with a final outcome (written, dead-lettered, ...)."""
    return sum(v for k, v in service.metrics().items() if k.startswith("city_ingest_uplinks_total"))


def _outcomes(service: CityIngest) -> str:
    """``outcome=count`` for each final outcome, e.g. ``written=99,998``."""
    samples = service.metrics().items()
    return " ".join(
        f"{k.split(_QUOTE)[1]}={v:,.0f}"
        for k, v in samples
        if k.startswith("city_ingest_uplinks_total{")
    )


def run(sizes: tuple[int, ...] = (334, 33_334)) -> None:
    decoders = load_config(CONFIG_DIR / "decoders.toml")
    rows = [_measure(per_kind, decoders) for per_kind in sizes]
    print_table(
        "Service state: start-up and memory by registry size (one uplink per device)",
        (
            "devices",
            "uplinks",
            "start-up s",
            "RSS idle MiB",
            "RSS after MiB",
            "VmHWM MiB",
            "outcomes",
        ),
        rows,
    )
