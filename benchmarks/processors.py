"""Readings per second of the processors, next to the plain-Python reference and pandas.

Run: ``python -m benchmarks.processors [--readings N] [--devices D] [--batches B]``. Synthetic
readings (one per device per interval, in time order, cut into B batches) go through
``process`` and a final ``flush``. The plain-Python reference (tests/processors/reference.py)
runs on a subsample and its rate is reported as measured (it is linear in the readings). pandas
(optional: ``pip install pandas``) does the comparable groupby for the hourly aggregates only
(no windows, watermark, daily values or alerts), on all readings at once.

Waste runs on fewer readings by default (2 M: 10 k bins x 200 readings at 15 min, 50 h): bins
report every 15 min to 6 h, so 10 M bin readings is far beyond any city, and the hourly
Theil–Sen rates dominate its cost.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from benchmarks.table import print_table
from processors.air_index import AirProcessor
from processors.base import Batch, Processor
from processors.noise import NoiseProcessor
from processors.waste import WasteProcessor
from tests.processors import reference
from tests.processors.reference import Reading

START = int(datetime(2026, 3, 28, tzinfo=UTC).timestamp()) * 10**9
HOUR = 3_600 * 10**9
REFERENCE_ROWS = 20_000


def synthetic(kind: str, readings: int, devices: int, seed: int = 1) -> Batch:
    """Readings of ``devices`` devices, one per device per interval, in time order."""
    rng = np.random.default_rng(seed)
    interval = {"air": 60, "noise": 60, "waste": 900}[kind] * 10**9
    step = np.arange(readings) // devices
    device = (np.arange(readings) % devices).astype(np.int32)
    time_ns = START + step * interval + rng.integers(0, interval, readings)
    if kind == "air":
        values = {
            n: rng.gamma(2.0, s, readings)
            for n, s in [("pm25", 6), ("pm10", 10), ("no2", 12), ("o3", 30)]
        }
    elif kind == "noise":
        laeq = rng.normal(58, 6, readings)
        values = {"laeq": laeq, "lamax": laeq + rng.gamma(2, 3, readings)}
    else:
        fill = (step * rng.uniform(0.2, 1.5, devices)[device]) % 100
        values = {"fill_pct": fill, "temperature": rng.normal(18, 3, readings)}
    return Batch(device, time_ns, values)


def time_processor(make: Callable[[], Processor], batch: Batch, batches: int) -> tuple[float, int]:
    processor = make()
    bounds = np.linspace(0, len(batch), batches + 1).astype(int)
    parts = [batch.take(np.arange(a, b)) for a, b in itertools.pairwise(bounds)]
    begin = time.perf_counter()
    points = 0
    for part in parts:
        points += sum(len(p) for p in processor.process(part).points)
    points += sum(len(p) for p in processor.flush(2**62).points)
    return time.perf_counter() - begin, points


def time_reference(kind: str, batch: Batch) -> float:
    rows = min(REFERENCE_ROWS, len(batch))
    readings = [
        Reading(
            int(batch.device[i]),
            int(batch.time_ns[i]),
            {n: float(c[i]) for n, c in batch.values.items()},
        )
        for i in range(rows)
    ]
    begin = time.perf_counter()
    {"air": reference.air, "noise": reference.noise, "waste": reference.waste}[kind](readings)
    return rows / (time.perf_counter() - begin)


def time_pandas(kind: str, batch: Batch) -> float | None:
    try:
        import pandas as pd  # noqa: PLC0415 - optional, benchmark only
    except ImportError:
        return None
    frame = pd.DataFrame({"device": batch.device, "hour": batch.time_ns // HOUR, **batch.values})
    begin = time.perf_counter()
    if kind == "noise":
        frame["energy"] = 10 ** (frame["laeq"] / 10)
        grouped = frame.groupby(["device", "hour"])
        grouped.agg({"energy": ["mean", "count"], "lamax": "max"})
        grouped["laeq"].quantile([0.1, 0.5, 0.9])
    elif kind == "air":
        frame.groupby(["device", "hour"]).agg(["mean", "min", "max", "count"])
    else:
        frame.groupby(["device", "hour"]).agg({"fill_pct": "last", "temperature": "max"})
    return len(batch) / (time.perf_counter() - begin)


def run(
    readings: int = 10_000_000,
    waste_readings: int = 2_000_000,
    devices: int = 10_000,
    batches: int = 10,
) -> None:
    """Time each processor and print the table."""
    makers: dict[str, Callable[[], Processor]] = {
        "air": AirProcessor,
        "noise": NoiseProcessor,
        "waste": WasteProcessor,
    }
    rows = []
    for kind, make in makers.items():
        n = waste_readings if kind == "waste" else readings
        batch = synthetic(kind, n, devices)
        seconds, points = time_processor(make, batch, batches)
        pandas_rate = time_pandas(kind, batch)
        rows.append(
            [
                kind,
                f"{n:,}",
                f"{seconds:.2f}",
                f"{n / seconds:,.0f}",
                f"{points:,}",
                f"{time_reference(kind, batch):,.0f}",
                f"{pandas_rate:,.0f}" if pandas_rate else "not installed",
            ]
        )
        del batch
    header = [
        "processor",
        "readings",
        "seconds",
        "readings/s",
        "points",
        "reference/s",
        "pandas groupby/s",
    ]
    print_table(f"processors: {devices:,} devices, {batches} batches in time order", header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--waste-readings", type=int, default=2_000_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    run(args.readings, args.waste_readings, args.devices, args.batches)


if __name__ == "__main__":
    main()
