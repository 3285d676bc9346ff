"""End-to-end latency at a fixed rate: from publish to the point being durable in InfluxDB.

One Mosquitto (shipped config), one InfluxDB 1.x and the real service (``city-ingest run``, ack
after write). A fleet of ``RATE × 2 s`` devices reports every 2 s of simulated time, so that the
whole city publishes ``RATE`` uplinks per second; the scenario starts a little ahead of the wall
clock and the messages are published paced at ``RATE`` (pre-encoded, ``fast_publish`` per 50 ms
slice), so every uplink's own time is close to the moment it is published and its points land
in the current windows, as in live traffic.

Method: each uplink writes one ``link`` point stamped with its own time; the TTS and ChirpStack
ones (two thirds; KPN links carry no fCnt to count) are timed. They are grouped
by that time into 100 ms buckets, and InfluxDB is polled with one ``count ... GROUP BY time()``
over the buckets not yet complete. A bucket is durable at the first poll that finds all of its
points (InfluxDB answers a write only after its WAL is fsynced). A message's latency is the
moment its bucket became complete minus the start of the slice that published it: an upper
bound, too high by at most the bucket's spread (≤ 100 ms), one poll (query + pause) and one
slice (all printed).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.table import print_table
from ingest.decoders import load_config
from ingest.model import Kind, Network
from simulators.fastpub import fast_publish
from simulators.fleet import generate_fleet, write_fleet
from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.process import CONFIG_DIR
from simulators.servers.service import CityIngest
from simulators.stream import MIXED, Scenario, generate

__all__ = ["run"]

_REPORT_S = 2.0  # each device's interval: long enough that KPN whole-second stamps stay unique
_BUCKET_NS = 100_000_000
_SLICE_S = 0.05
_LEAD_S = 60.0  # the scenario starts this far ahead; generation and start-up happen meanwhile
_DRAIN_S = 60.0
_POLL_PAUSE_S = 0.05
_GROUP = "GROUP BY time(100ms) fill(0)"  # one row per bucket, empty ones as 0


@dataclass(frozen=True, slots=True)
class _Load:
    messages: list[tuple[str, bytes]]
    buckets: np.ndarray  # int64: each message's own time // _BUCKET_NS
    timed: np.ndarray  # bool: TTS and ChirpStack uplinks (KPN links have no fCnt to count)
    start_ns: int  # wall clock at which publishing begins


@dataclass(slots=True)
class _Progress:
    published_ns: np.ndarray  # wall clock at the start of each message's slice
    done: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0


def _load(workdir: Path, rate: int, seconds: float, lead_s: float) -> _Load:
    decoders = load_config(CONFIG_DIR / "decoders.toml")
    per_kind = round(rate * _REPORT_S / len(Kind))
    devices = generate_fleet(per_kind, seed=7)
    write_fleet(devices, workdir / "devices.csv")
    start_ns = time.time_ns() + round(lead_s * 1e9)
    scenario = Scenario(
        network=MIXED,
        messages=int(rate * seconds),
        seed=7,
        start_ns=start_ns,
        malformed=0.0,
        duplicates=0.0,
        lost=0.0,
        resets=0.0,
        intervals_s=dict.fromkeys(Kind, len(devices) / rate),
    )
    publications = list(generate(scenario, devices, decoders))
    buckets = np.array([p.entry.time_ns // _BUCKET_NS for p in publications], dtype=np.int64)
    timed = np.array([p.entry.network is not Network.KPN for p in publications])
    return _Load([(p.topic, p.payload) for p in publications], buckets, timed, start_ns)


def _publish(port: int, load: _Load, rate: int, progress: _Progress) -> None:
    """Publish ``rate`` messages per second in slices, recording when each slice started."""
    per_slice = max(1, round(rate * _SLICE_S))
    wait_ns = load.start_ns - time.time_ns()
    if wait_ns > 0:
        time.sleep(wait_ns / 1e9)  # pacing, not synchronisation: start on the scenario's clock
    began = time.perf_counter()
    for n, first in enumerate(range(0, len(load.messages), per_slice)):
        due = began + n * _SLICE_S
        if (ahead := due - time.perf_counter()) > 0:
            time.sleep(ahead)
        progress.published_ns[first : first + per_slice] = time.time_ns()
        fast_publish(
            "127.0.0.1", port, load.messages[first : first + per_slice], client_id="bench-paced"
        )
    progress.seconds = time.perf_counter() - began
    progress.done.set()


def _poll(
    influx: InfluxV1, expected: dict[int, int], progress: _Progress
) -> tuple[dict[int, int], list[float]]:
    """Poll until every bucket is complete (or the drain deadline); returns each bucket's
    completion time (wall ns) and the durations of the polls."""
    complete: dict[int, int] = {}
    polls: list[float] = []
    deadline = float("inf")
    while len(complete) < len(expected) and time.perf_counter() < deadline:
        open_buckets = [b for b in expected if b not in complete]
        lo, hi = open_buckets[0] * _BUCKET_NS, (open_buckets[-1] + 1) * _BUCKET_NS
        asked = time.perf_counter()
        where = f"network != 'kpn' AND time >= {lo} AND time < {hi}"
        rows = influx.query(f"SELECT count(f_cnt) FROM link WHERE {where} {_GROUP}")  # noqa: S608 (numbers)
        seen = time.time_ns()
        polls.append(time.perf_counter() - asked)
        time.sleep(_POLL_PAUSE_S)  # pacing the polls, not synchronisation
        for row in rows:
            bucket = row["time"] // _BUCKET_NS
            if bucket in expected and bucket not in complete and row["count"] >= expected[bucket]:
                complete[bucket] = seen
        if progress.done.is_set() and deadline == float("inf"):
            deadline = time.perf_counter() + _DRAIN_S
    return complete, polls


def _latencies(load: _Load, progress: _Progress, complete: dict[int, int]) -> np.ndarray:
    """Per message: seconds from its slice's start to its bucket's completion (NaN: never)."""
    done = np.array([complete.get(int(b), -1) for b in load.buckets[load.timed]], dtype=np.int64)
    seconds = (done - progress.published_ns[load.timed]) / 1e9
    return np.where(done < 0, np.nan, seconds)


def _row(name: str, values: np.ndarray) -> tuple[str, ...]:
    found = values[~np.isnan(values)]
    p50, p99 = np.percentile(found, [50, 99])
    return (name, str(found.size), f"{p50:.3f}", f"{p99:.3f}", f"{found.max():.3f}")


def _bucket_latencies(load: _Load, progress: _Progress, complete: dict[int, int]) -> np.ndarray:
    """Per complete bucket: completion minus the start of the last slice with one of its
    messages (the latency of the bucket's last message, an upper bound)."""
    last: dict[int, int] = {}
    pairs = zip(
        load.buckets[load.timed].tolist(), progress.published_ns[load.timed].tolist(), strict=True
    )
    for bucket, published in pairs:
        last[bucket] = max(last.get(bucket, 0), published)
    return np.array([(complete[b] - last[b]) / 1e9 for b in complete], dtype=np.float64)


def run(rate: int = 5_000, seconds: float = 30.0, lead_s: float = _LEAD_S) -> None:
    """Publish at ``rate`` for ``seconds``, starting ``lead_s`` from now (room to generate the
    messages and start the service first), and print the latency table."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp,
        Mosquitto() as broker,
        InfluxV1() as influx,
    ):
        workdir = Path(tmp)
        influx.create_database("city")
        load = _load(workdir, rate, seconds, lead_s)
        buckets, counts = np.unique(load.buckets[load.timed], return_counts=True)
        expected = dict(zip(buckets.tolist(), counts.tolist(), strict=True))
        progress = _Progress(np.zeros(len(load.messages), dtype=np.int64))
        with CityIngest(workdir, mqtt_port=broker.port, influx_url=influx.url):
            publisher = threading.Thread(target=_publish, args=(broker.port, load, rate, progress))
            publisher.start()
            complete, polls = _poll(influx, expected, progress)
            publisher.join()
    _print(load, progress, complete, polls)


def _print(
    load: _Load, progress: _Progress, complete: dict[int, int], polls: Sequence[float]
) -> None:
    per_message = _latencies(load, progress, complete)
    missing = int(np.isnan(per_message).sum())
    achieved = len(load.messages) / progress.seconds
    print_table(
        f"Latency publish → durable in InfluxDB: {len(load.messages):,} uplinks paced at "
        f"{achieved:,.0f} msg/s achieved over {progress.seconds:.1f} s; {missing} never found; "
        f"poll = query (median {statistics.median(polls) * 1e3:.0f} ms, "
        f"max {max(polls) * 1e3:.0f} ms)"
        f" + {_POLL_PAUSE_S * 1e3:.0f} ms pause; "
        f"slice {_SLICE_S * 1e3:.0f} ms, bucket {_BUCKET_NS // 1_000_000} ms",
        ("measure (upper bound)", "n", "p50 s", "p99 s", "max s"),
        [
            _row("per message: bucket complete − slice start", per_message),
            _row(
                "per 100 ms bucket: complete − last slice start",
                _bucket_latencies(load, progress, complete),
            ),
        ],
    )
