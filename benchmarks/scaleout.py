"""Scale-out throughput: 1, 2 and 3 city-ingest replicas reading a 3-node NATS cluster.

Everything runs on this machine: three nats-server processes (R3 file storage), one InfluxDB
1.x and the replicas, all on loopback. For each replica count a backlog of N uplinks (the
three network formats, all kinds, no malformed or duplicate messages) is published first
through the MQTT listener with the pre-encoded load publisher (``publish`` column: PUBACK
rate, i.e. R3 stores), while no replica runs; then the replicas start together and drain it.
The ``drain`` rate counts from the first message a replica took to the last one written to
InfluxDB and acknowledged (start-up excluded), from ``/metrics`` polled every 50 ms; ``CPU
busy`` is the machine's whole CPU time (every process, /proc/stat) busy during the drain.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.end_to_end import generate_messages
from benchmarks.table import print_table
from simulators.fastpub import fast_publish
from simulators.servers import InfluxV1, wait_until
from simulators.servers.nats import NETWORK, NatsCluster
from simulators.servers.service import CityIngest

_PARTITIONS = 24  # divisible by 1, 2 and 3 replicas
_OUTCOMES = ("written", "duplicate", "dead_letter")


def _drain(replicas: list[CityIngest], count: int) -> tuple[float, float]:
    """Messages per second from the first taken to the last accounted for, and the share of
    the machine's CPU time that was busy meanwhile (all processes)."""

    def taken() -> float:
        return sum(r.metrics()["city_ingest_received_total"] for r in replicas)

    first = wait_until(lambda: taken() > 0 and time.perf_counter(), 120, interval=0.05)
    cpu_before = _cpu_times()
    last = wait_until(lambda: _accounted(replicas) >= count and time.perf_counter(), 600, 0.05)
    cpu_after = _cpu_times()
    busy, total = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    return count / (last - first), busy / total if total else float("nan")  # < 1 tick: small runs


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat: idle and iowait are not busy)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _accounted(replicas: list[CityIngest]) -> float:
    outcomes = ("written", "duplicate", "dead_letter")
    return sum(
        r.metrics()[f'city_ingest_uplinks_total{{outcome="{o}"}}']
        for r in replicas
        for o in outcomes
    )


def _round(
    root: Path, cluster: NatsCluster, influx: InfluxV1, *, count: int, replicas: int, seed: int
) -> tuple[float, float, float]:
    """Publish the backlog, then drain it with ``replicas`` started together, each on its own
    partitions."""
    messages = generate_messages(root, count, seed)
    publish = fast_publish(
        "127.0.0.1", cluster.nodes[1].mqtt_port, messages, window=5000, login=NETWORK.login
    )
    services = []
    for i in range(replicas):
        workdir = root / f"replica-{i}"
        workdir.mkdir()
        (workdir / "devices.csv").write_bytes((root / "devices.csv").read_bytes())
        section = cluster.service_section(i, replicas)
        services.append(CityIngest(workdir, mqtt_port=1, influx_url=influx.url, extra=section))
    try:
        with ThreadPoolExecutor(len(services)) as pool:
            list(pool.map(CityIngest.start, services))
        return (publish.rate, *_drain(services, count))
    finally:
        for service in services:
            service.stop()


def run(count: int = 30_000, repetitions: int = 2) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp, InfluxV1() as influx:
        influx.create_database("city")
        with NatsCluster(Path(tmp) / "nats", partitions=_PARTITIONS) as cluster:
            cluster.provision()
            results: dict[int, list[tuple[float, float, float]]] = {1: [], 2: [], 3: []}
            for repetition in range(repetitions):
                for replicas, runs in results.items():
                    root = Path(tmp) / f"r{replicas}-{repetition}"
                    root.mkdir()
                    seed = repetition * len(results) + replicas  # a fresh stretch of time
                    runs.append(
                        _round(root, cluster, influx, count=count, replicas=replicas, seed=seed)
                    )
    for replicas, runs in results.items():
        publish, drain, busy = (statistics.median(run[i] for run in runs) for i in range(3))
        rows.append((replicas, f"{publish:,.0f}", f"{drain:,.0f}", f"{busy:.0%}"))
    print_table(
        f"Scale-out: {count:,} uplinks, {_PARTITIONS} partitions, 3 NATS nodes (R3), one "
        f"InfluxDB, all on this machine; medians of {repetitions}",
        ["replicas", "publish msg/s (PUBACK)", "drain msg/s (written + acked)", "CPU busy"],
        rows,
    )
