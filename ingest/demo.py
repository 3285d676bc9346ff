"""``city-ingest demo``: a short simulated city, end to end, on this machine.

Starts its own Mosquitto (the shipped broker config) and InfluxDB 1.x in a temp dir, unless
``--mqtt-port`` / ``--influx-url`` name running ones; writes a registry and a service config;
runs the service and the simulator; waits until every published message is accounted for; then
prints the accounting, the points per measurement read back from InfluxDB, and queries to try.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from ingest import qcreport
from ingest.decoders.config import load_config
from ingest.metrics import Accounting
from ingest.model import Outcome
from ingest.pipeline import Pipeline
from ingest.plan import plan
from ingest.settings import InfluxSettings, load_settings
from ingest.sinks.retention import influxql_source
from simulators import cli as simulate_cli
from simulators.fleet import load_or_create_fleet
from simulators.servers import InfluxV1, Mosquitto, request
from simulators.servers.process import CONFIG_DIR
from simulators.servers.service import write_service_config

__all__ = ["MEASUREMENTS", "add_arguments", "count_points", "run"]

MEASUREMENTS = (
    "air",
    "noise",
    "waste",
    "link",
    "air_1h",
    "noise_1h",
    "noise_1d",
    "waste_state",
    "alert",
)
EXAMPLE_QUERIES = (
    (
        "PM2.5 per district, hourly mean of readings that passed QC",
        "SELECT mean(pm25) FROM air WHERE pm25_qc = 1 AND time > now() - 7d "
        "GROUP BY time(1h), district",
    ),
    (
        "Loudest devices (LAeq) in the last day",
        "SELECT max(laeq) FROM noise WHERE time > now() - 1d GROUP BY device",
    ),
    (
        "Latest fill level per bin",
        "SELECT last(fill_pct) FROM waste WHERE time > now() - 7d GROUP BY device, district",
    ),
)


@dataclass(frozen=True, slots=True)
class _Endpoints:
    mqtt_host: str
    mqtt_port: int
    influx_url: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--devices", type=int, default=50, help="devices per kind (air, noise, waste)")
    add("--messages", type=int, default=3000, help="uplinks the simulator publishes")
    add("--seed", type=int, default=7)
    add("--mqtt-host", default="127.0.0.1")
    add("--mqtt-port", type=int, help="use this running broker instead of starting one")
    add("--influx-url", help="use this running InfluxDB 1.x (database city) instead")
    add("--workdir", type=Path, help="keep registry, config and dead letters here")
    add("--timeout", type=float, default=120.0, help="seconds to wait for the service")
    add(
        "--faults",
        metavar="SPEC",
        help="inject sensor faults (e.g. stuck=0.01,spike=0.005) "
        "and print the qc-report table: how well the QC flags found them",
    )


def run(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="city-ingest-demo-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        endpoints = stack.enter_context(_servers(args, workdir))
        config = write_service_config(
            workdir,
            mqtt_host=endpoints.mqtt_host,
            mqtt_port=endpoints.mqtt_port,
            influx_url=endpoints.influx_url,
        )
        return asyncio.run(_demo(args, config, workdir, endpoints))


@contextmanager
def _servers(args: argparse.Namespace, workdir: Path) -> Iterator[_Endpoints]:
    with ExitStack() as stack:
        mqtt_port = args.mqtt_port
        if mqtt_port is None:
            broker = stack.enter_context(Mosquitto(workdir / "mosquitto"))
            mqtt_port = broker.port
        influx_url = args.influx_url
        if influx_url is None:
            influx = stack.enter_context(InfluxV1(workdir / "influxdb"))
            influx.create_database("city")
            influx_url = influx.url
        yield _Endpoints(args.mqtt_host, mqtt_port, influx_url)


async def _demo(
    args: argparse.Namespace, config: Path, workdir: Path, endpoints: _Endpoints
) -> int:
    registry = workdir / "devices.csv"
    simulate = argparse.ArgumentParser()
    simulate_cli.add_arguments(simulate)
    manifest = workdir / "manifest.jsonl"
    sim_args = simulate.parse_args(
        [
            "--devices",
            str(args.devices),
            "--messages",
            str(args.messages),
            "--seed",
            str(args.seed),
            "--host",
            endpoints.mqtt_host,
            "--port",
            str(endpoints.mqtt_port),
            "--registry",
            str(registry),
            "--manifest",
            str(manifest),
            "--decoders",
            str(CONFIG_DIR / "decoders.toml"),
            *(["--faults", args.faults] if args.faults else []),
        ]
    )
    load_or_create_fleet(
        registry, args.devices, args.seed, load_config(CONFIG_DIR / "decoders.toml")
    )
    settings = load_settings(config)
    pipeline = Pipeline(plan(settings))
    stop = asyncio.Event()
    service = asyncio.create_task(pipeline.run(stop))
    await pipeline.source.wait_connected(timeout=30)
    print(f"service up; simulating {args.messages} uplinks from {3 * args.devices} devices ...")
    started = time.monotonic()
    if await asyncio.to_thread(simulate_cli.run, sim_args) != 0:
        stop.set()
        await service
        return 1
    published = sum(1 for _ in manifest.open(encoding="utf-8"))
    deadline = time.monotonic() + args.timeout
    while pipeline.totals.received < published or not pipeline.totals.balanced():
        if time.monotonic() > deadline:
            print(f"timed out: {pipeline.totals.received} of {published} received", file=sys.stderr)
            break
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    stop.set()
    totals = await service
    _print_report(
        totals,
        published,
        elapsed,
        settings.influxdb,  # its url is the endpoint's (the config was written for it)
        workdir,
        keep=args.workdir is not None,
    )
    if args.faults:
        quality = argparse.Namespace(
            manifest=manifest, config=config, influx_url=None, database=None
        )
        print(
            f"\nQC flags against the injected faults (city-ingest qc-report):\n"
            f"{qcreport.measure(quality).table()}"
        )
    return 0 if totals.balanced() and totals.received == published else 1


def count_points(influx: InfluxSettings, measurement: str) -> int:
    """Points in one measurement (one row per point with every tag grouped)."""
    query = f"SELECT * FROM {influxql_source(measurement, influx)} GROUP BY *"  # noqa: S608 - our names
    response = request(
        "GET", f"{influx.url}/query?" + urlencode({"db": influx.database, "q": query})
    )
    series = response.json()["results"][0].get("series", [])
    return sum(len(s["values"]) for s in series)


def _print_report(
    totals: Accounting,
    published: int,
    elapsed: float,
    influx: InfluxSettings,
    workdir: Path,
    *,
    keep: bool,
) -> None:
    rows = [("published by the simulator", published), ("received", totals.received)]
    rows += [(o.value, totals.outcomes[o]) for o in Outcome]
    rows += [(f"  dead letter: {r.value}", n) for r, n in sorted(totals.reasons.items())]
    rows += [(f"points in '{m}'", count_points(influx, m)) for m in MEASUREMENTS]
    width = max(len(label) for label, _ in rows)
    print(f"\n{'what':<{width}}  count")
    print(f"{'-' * width}  -----")
    for label, value in rows:
        print(f"{label:<{width}}  {value:>5}")
    print(
        f"\n{totals.received} uplinks in {elapsed:.1f} s; accounting balanced: {totals.balanced()}"
    )
    if keep:
        print(f"registry, config and dead letters: {workdir}")
    else:
        print("the demo's temp dir is removed on exit: pass --workdir DIR to keep it")
    print(f"\nTry these InfluxQL queries (database 'city', {influx.url}):")
    for title, query in EXAMPLE_QUERIES:
        print(f"  -- {title}\n  {query}")
