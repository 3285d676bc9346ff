"""End-to-end throughput: city-ingest with ack-after-write next to the broker's ceiling.

One Mosquitto (shipped config) and one InfluxDB 1.x on loopback. N realistic uplinks (the three
network formats, all kinds, no malformed or duplicate messages) are generated before timing and
published from this process (paho, QoS 1, pipelined) while the consumer runs in its own process:

- ``ceiling``: ``mosquitto_sub -q 1 -C N`` subscribed before publishing; time until it exits;
- ``city-ingest``: the real service (``city-ingest run``); time until ``/metrics`` accounts for
  all N messages, i.e. every one written to InfluxDB (HTTP 204) and acknowledged.

Both are timed from the first publish. Runs are interleaved (ceiling, service, ceiling, ...).
Peak RSS and CPU seconds of the consumer process come from /proc.

A second table divides every process's CPU time by the messages: what one message costs the
publisher (this process), Mosquitto, influxd and the consumer. The host's CPUs divided by what
the other processes need per message bound what any consumer writing the same points could
reach on this host, since they must run too: the last line prints that bound next to the
ceiling (it assumes their cost per message does not fall at higher rates).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.table import print_table
from ingest.decoders import load_config
from simulators.fastpub import fast_publish
from simulators.fleet import load_or_create_fleet
from simulators.servers import InfluxV1, Mosquitto, wait_until
from simulators.servers.process import CONFIG_DIR
from simulators.servers.service import CityIngest
from simulators.stream import MIXED, Scenario, generate

__all__ = ["generate_messages", "run"]

_CLOCK_TICKS = 100  # USER_HZ on Linux
_CEILING = "bench-ceiling"


def generate_messages(workdir: Path, count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` uplinks of the 900-device fleet in ``workdir`` (created on first use)."""
    decoders = load_config(CONFIG_DIR / "decoders.toml")
    devices = load_or_create_fleet(workdir / "devices.csv", 300, 1, decoders)
    start = 1_700_000_000_000_000_000 + seed * 10**15  # a fresh stretch of time per run
    scenario = Scenario.clean(MIXED, count, seed, start)
    return [(p.topic, p.payload) for p in generate(scenario, devices, decoders)]


def _publish(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Publish with the pre-encoded load publisher; returns the time publishing started."""
    started = time.perf_counter()
    fast_publish("127.0.0.1", port, messages)
    return started


def _ceiling(port: int, messages: list[tuple[str, bytes]]) -> tuple[float, int, float]:
    """The same messages under a topic prefix the service does not subscribe to, so that only
    mosquitto_sub receives them."""
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-p",
            str(port),
            "-q",
            "1",
            "-t",
            f"{_CEILING}/#",
            "-C",
            str(len(messages)),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let it subscribe: mosquitto_sub gives no readiness signal
    started = _publish(port, [(f"{_CEILING}/{topic}", body) for topic, body in messages])
    sub.wait(300)
    return len(messages) / (time.perf_counter() - started), 0, 0.0


def _service(
    service: CityIngest, port: int, messages: list[tuple[str, bytes]]
) -> tuple[float, int, float]:
    pid = service.pid
    cpu_before = _cpu_seconds(pid)
    target = service.metrics()["city_ingest_received_total"] + len(messages)
    finished: list[float] = []

    def watch() -> None:
        wait_until(
            lambda: service.metrics()["city_ingest_received_total"] >= target, 300, interval=0.02
        )
        finished.append(time.perf_counter())

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = _publish(port, messages)
    watcher.join()
    return (
        len(messages) / (finished[0] - started),
        _peak_rss_kib(pid),
        _cpu_seconds(pid) - cpu_before,
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run(count: int = 100_000, repetitions: int = 3) -> None:
    rows: dict[str, list[_Run]] = {
        "ceiling (mosquitto_sub)": [],
        "city-ingest (ack after write)": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
        Mosquitto() as broker,
        InfluxV1() as influx,
    ):
        workdir = Path(tmp)
        influx.create_database("city")
        batches = [generate_messages(workdir, count, seed) for seed in range(1, repetitions + 1)]
        servers = (broker.pid, influx.pid)
        with CityIngest(workdir, mqtt_port=broker.port, influx_url=influx.url) as service:
            for messages in batches:
                rows["ceiling (mosquitto_sub)"].append(
                    _with_servers(servers, lambda m=messages: _ceiling(broker.port, m))
                )
                rows["city-ingest (ack after write)"].append(
                    _with_servers(servers, lambda m=messages: _service(service, broker.port, m))
                )
    ceiling = statistics.median(r[0] for r in rows["ceiling (mosquitto_sub)"])
    _print_rates(rows, ceiling, count, repetitions)
    _print_budget(rows, ceiling, count)


def _print_rates(rows: dict[str, list[_Run]], ceiling: float, count: int, repetitions: int) -> None:
    table = []
    for name, results in rows.items():
        rate = statistics.median(r[0] for r in results)
        rss = max(r[1] for r in results)
        cpu = statistics.median(r[2] for r in results)
        table.append(
            (
                name,
                f"{rate:,.0f}",
                f"{rate / ceiling:.2f}",
                f"{rss / 1024:.0f} MiB" if rss else "-",
                f"{cpu:.1f}" if cpu else "-",
                f"{statistics.median(r[3] for r in results):.1f}",
                f"{statistics.median(r[4] for r in results):.1f}",
                " ".join(f"{r[0]:,.0f}" for r in results),
            )
        )
    print_table(
        f"End to end, {count:,} uplinks per run, {repetitions} interleaved runs (CPU s: "
        "the consumer's, Mosquitto's and influxd's during the run; the host has "
        f"{os.cpu_count()} CPUs)",
        (
            "consumer",
            "msg/s (median)",
            "× ceiling",
            "peak RSS",
            "CPU s",
            "broker CPU s",
            "influxd CPU s",
            "runs",
        ),
        table,
    )


def _print_budget(rows: dict[str, list[_Run]], ceiling: float, count: int) -> None:
    """CPU µs per message of each process (medians), and the rate the others leave room for."""
    table, others = [], 0.0
    for name, results in rows.items():
        per = [1e6 / count * statistics.median(r[i] for r in results) for i in (2, 5, 3, 4)]
        others = sum(per[1:])  # the last row (city-ingest) sets the bound
        table.append((name, *(f"{x:.1f}" if x else "-" for x in per), f"{sum(per):.1f}"))
    print_table(
        "CPU µs per message (median of the runs)",
        ("consumer", "consumer", "publisher", "broker", "influxd", "all"),
        table,
    )
    bound = (os.cpu_count() or 1) / (others * 1e-6)
    print(
        f"\nPublisher, broker and influxd (storing these points) alone need {others:.1f} µs "
        f"per message: on {os.cpu_count()} CPUs no consumer writing the same points could pass "
        f"{bound:,.0f} msg/s = {bound / ceiling:.2f} × ceiling, even one that cost nothing."
    )


_Run = tuple[float, int, float, float, float, float]  # rate, RSS KiB, CPU s: consumer, broker,
# influxd, publisher (this process)


def _with_servers(pids: tuple[int, int], measure: Callable[[], tuple[float, int, float]]) -> _Run:
    """``measure()``, the CPU seconds the broker and the database spent meanwhile, and this
    process's (the publisher's; the watcher's polls of /metrics are included, a few ms)."""
    before = [_cpu_seconds(pid) for pid in pids]
    own = time.process_time()
    result = measure()
    publisher = time.process_time() - own
    broker, influx = (_cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True))
    return (*result, broker, influx, publisher)
