"""Webhook ingest throughput: requests/s and readings/s until each answer says "durable".

One Mosquitto, one InfluxDB 1.x and the real service (``city-ingest run``) with its webhook
listener (plain HTTP on loopback, ``influxdb.flush_interval`` 0.2 s as in the tests). After a
warm-up, for each network ``REQUESTS`` pre-rendered uplinks of a 300-device fleet are POSTed by
``C`` concurrent aiohttp clients, each sending its next request when the previous one was
answered 200, which the service does only once the request's readings are written (or spooled).
TTS and ChirpStack carry one uplink per request; a KPN Things request is one SenML pack with
several readings. Time runs from the first request to the last answer; readings are the
manifest's values.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.table import print_table
from ingest.decoders import load_config
from ingest.model import Network
from simulators.fleet import generate_fleet, write_fleet
from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.process import CONFIG_DIR, free_port
from simulators.servers.service import CityIngest
from simulators.stream import Scenario, generate
from simulators.webhooks import PATHS, push_headers, service_environment

__all__ = ["run"]

REQUESTS = 4000
_WARM_UP = 300
CONCURRENCY = (16, 256)
_DAY_NS = 86_400 * 1_000_000_000
_SECRETS = {n: f"bench-secret-{n.value}-7d1e9a" for n in Network}


def _bodies(
    network: Network, seed: int, start_ns: int, requests: int = REQUESTS
) -> tuple[list[bytes], int]:
    decoders = load_config(CONFIG_DIR / "decoders.toml")
    devices = generate_fleet(100, seed=3)
    scenario = Scenario.clean(network.value, requests, seed, start_ns)
    publications = list(generate(scenario, devices, decoders))
    readings = sum(len(p.entry.values) for p in publications)
    return [p.payload for p in publications], readings


async def _post_all(
    url: str, network: Network, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float]]:
    """Seconds for all requests, and each request's time to its 200."""
    latencies: list[float] = []
    queue = list(reversed(bodies))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                sent = time.perf_counter()
                headers = push_headers(network, body, _SECRETS[network])
                async with session.post(url + PATHS[network], data=body, headers=headers) as r:
                    if r.status != 200:
                        raise RuntimeError(f"{network.value}: HTTP {r.status} {await r.text()}")
                latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def run(requests: int = REQUESTS) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_fleet(generate_fleet(100, seed=3), root / "devices.csv")
        port = free_port()
        env = service_environment(root, f"127.0.0.1:{port}", _SECRETS)
        with (
            Mosquitto(root / "mosquitto") as broker,
            InfluxV1(root / "influxdb") as influx,
        ):
            influx.create_database("city")
            with CityIngest(root, mqtt_port=broker.port, influx_url=influx.url, env=env):
                start_ns = time.time_ns() - 20 * _DAY_NS
                warm_up, _ = _bodies(Network.TTS, 99, start_ns - _DAY_NS)  # connections, caches
                url = f"http://127.0.0.1:{port}"
                asyncio.run(_post_all(url, Network.TTS, warm_up[:_WARM_UP], 16))
                for row, (network, concurrency) in enumerate(
                    (n, c) for n in Network for c in CONCURRENCY
                ):
                    bodies, readings = _bodies(
                        network, 10 + row, start_ns + row * _DAY_NS, requests
                    )
                    seconds, latencies = asyncio.run(_post_all(url, network, bodies, concurrency))
                    rows.append(
                        (
                            network.value,
                            concurrency,
                            len(bodies),
                            f"{readings / len(bodies):.1f}",
                            f"{len(bodies) / seconds:,.0f}",
                            f"{readings / seconds:,.0f}",
                            f"{statistics.median(latencies) * 1000:.0f}",
                        )
                    )
    print_table(
        f"Webhook ingest, answered after durable ({requests} requests per row, loopback)",
        ("network", "clients", "requests", "readings/req", "requests/s", "readings/s", "p50 ms"),
        rows,
    )


if __name__ == "__main__":
    run()
