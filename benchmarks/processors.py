"""Readings per second of the processors, next to the plain-Python reference and pandas.

Run: ``python -m benchmarks processors`` (or ``python -m benchmarks.processors [--readings N]
[--devices D] [--batches B] [--repeat R]``). Synthetic readings (one per device per interval, in
time order, cut into B batches) go through ``process`` and a final ``flush``, after an untimed
warm-up on the first batch (pandas gets the same on the first tenth); with R > 1 each side's
best of R runs counts. ``x pandas`` compares wall-clock times, ``x pandas cpu`` the CPU times
of this process (steadier on a shared host). The plain-Python reference
(tests/processors/reference.py) runs on a subsample and its rate is reported as measured (it is
linear in the readings). pandas (optional: ``pip install pandas``) computes the same output
fields from all readings at once (see ``LEGEND`` and ``benchmarks.pandas_processors``), and
the run checks that its values equal the processor's. A second table times the bare NumPy
passes the hourly air and noise measurements need (``kernels``): the floor under any processor
built from them. A third gives the memory one hour of 100 k devices' open windows holds
(``memory``).

Waste runs on fewer readings by default (2 M: 10 k bins x 200 readings at 15 min, 50 h): bins
report every 15 min to 6 h, so 10 M bin readings is far beyond any city.
"""

from __future__ import annotations

import argparse
import itertools
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from benchmarks.pandas_processors import Seconds, agree, stopwatch, time_pandas
from benchmarks.table import print_table
from processors.air_index import POLLUTANTS as AIR_POLLUTANTS
from processors.air_index import AirConfig, AirProcessor
from processors.base import Batch, Points, Processor
from processors.noise import HOUR_STATS as NOISE_HOUR_STATS
from processors.noise import NoiseConfig, NoiseProcessor, energy
from processors.partials import group, reduce_rows
from processors.waste import WasteConfig, WasteProcessor
from tests.processors import reference
from tests.processors.reference import Reading

START = int(datetime(2026, 3, 28, tzinfo=UTC).timestamp()) * 10**9
HOUR = 3_600 * 10**9
REFERENCE_ROWS = 20_000
LEGEND = {
    "air": "air_1h: mean/min/max/count of 4 pollutants per device x hour, EAQI + driver, LKI;"
    " daily means per local day and WHO exceedances",
    "noise": "noise_1h: energetic mean, max LAmax, count, L10/L50/L90 per device x hour;"
    " noise_1d: Lday/Levening/Lnight/Lden and coverage per local day",
    "waste": "waste_state: last fill, confirmed emptyings per bin x hour, Theil-Sen rate over"
    " the last 16 fills since the emptying (24 h), hours to full; fire conditions",
}
MAKERS: dict[str, Callable[[], Processor]] = {
    "air": AirProcessor,
    "noise": NoiseProcessor,
    "waste": WasteProcessor,
}


def synthetic(
    kind: str, readings: int, devices: int, seed: int = 1, interval_s: int | None = None
) -> Batch:
    """Readings of ``devices`` devices, one per device per interval, in time order."""
    rng = np.random.default_rng(seed)
    interval = (interval_s or {"air": 60, "noise": 60, "waste": 900}[kind]) * 10**9
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


def time_processor(
    make: Callable[[], Processor], batch: Batch, batches: int
) -> tuple[Seconds, list[Points]]:
    """Seconds to process the batch in ``batches`` parts and flush; the points emitted.

    A throwaway processor takes the first part before the clock starts (warm-up: a service
    runs warm; the first batches of a fresh process mostly measure page faults).
    """
    parts = _parts(batch, batches)
    make().process(parts[0])
    processor = make()
    begin = stopwatch()
    points = [p for part in parts for p in processor.process(part).points]
    points += processor.flush(2**62).points
    return stopwatch(begin), points


def _parts(batch: Batch, batches: int) -> list[Batch]:
    bounds = np.linspace(0, len(batch), batches + 1).astype(int)
    return [batch.take(np.arange(a, b)) for a, b in itertools.pairwise(bounds)]


def _best(runs: list[Seconds]) -> Seconds:
    """The shortest wall-clock and the shortest CPU time of several runs."""
    return min(r[0] for r in runs), min(r[1] for r in runs)


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


def kernels(
    kind: str, batch: Batch, batches: int, repeat: int, pandas_wall: float | None
) -> list[str]:
    """A table row: how fast the bare NumPy passes of one hourly measurement run over the same
    parts as the processor, with no windows, state, days, indices, samples or points. The
    processor makes these passes and more, so their ratio to pandas (which computes
    everything) is about the most a processor built from them can reach. Best of ``repeat``."""
    passes, what = PASSES[kind]
    parts = _parts(batch, batches)
    passes(parts[0])  # warm-up, as for the processor
    runs = []
    for _ in range(repeat):
        begin = stopwatch()
        for part in parts:
            passes(part)
        runs.append(stopwatch(begin))
    wall, _ = _best(runs)
    ratio = f"{pandas_wall / wall:.1f}" if pandas_wall else "-"
    return [kind, what, f"{len(batch) / wall:,.0f}", ratio]


def _air_passes(batch: Batch) -> None:
    keys, index = group(batch.time_ns // HOUR, batch.device)
    reduce_rows(index, keys.size, {name: batch.valid(name) for name in AIR_POLLUTANTS})


def _noise_passes(batch: Batch) -> None:
    keys, index = group(batch.time_ns // HOUR, batch.device)
    columns = {"energy": energy(batch.valid("laeq")), "lamax": batch.valid("lamax")}
    reduce_rows(index, keys.size, columns, NOISE_HOUR_STATS)


PASSES: dict[str, tuple[Callable[[Batch], None], str]] = {
    "air": (_air_passes, "hour numbers, grouping, count/sum/min/max of 4 pollutants"),
    "noise": (_noise_passes, "energies, hour numbers, grouping, energy sum, count, max LAmax"),
}


def memory(devices: int) -> None:
    """Print the state held for one hour of readings from ``devices`` devices (open windows).

    Measured with ``tracemalloc`` (NumPy reports its buffers to it): ``held`` is what the
    processor keeps after ``process`` (capacity included, even where ``np.empty`` left pages
    untouched), ``peak`` the most it allocated meanwhile. State grows with the hours it must
    keep: every window of the update horizon, and for waste the raw readings of the horizon
    plus the history a recomputed hour looks back on; the last column scales to that.
    """
    kept_h = {
        "air": AirConfig().horizon_s / 3600 + 1,
        "noise": NoiseConfig().horizon_s / 3600 + 1,
        "waste": (WasteConfig().horizon_s * 10**9 + WasteConfig().history_ns()) / HOUR,
    }
    rows = []
    for kind, per_hour in (("air", 60), ("noise", 12), ("noise", 60), ("waste", 4)):
        batch = synthetic(kind, devices * per_hour, devices, interval_s=3600 // per_hour)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        processor = MAKERS[kind]()
        processor.process(batch)
        held, peak = (m - base for m in tracemalloc.get_traced_memory())
        tracemalloc.stop()
        mib = [f"{held / 2**20:,.0f}", f"{peak / 2**20:,.0f}", f"{held * kept_h[kind] / 2**30:.1f}"]
        rows.append([kind, str(per_hour), f"{held / devices:,.0f}", *mib])
        del processor, batch
    header = ["processor", "readings/h", "B/device", "held MiB", "peak MiB", "whole horizon GiB"]
    print_table(f"memory: one hour of {devices:,} devices' open windows", header, rows)


def run(
    *,
    readings: int = 10_000_000,
    waste_readings: int = 2_000_000,
    devices: int = 10_000,
    batches: int = 10,
    memory_devices: int = 100_000,
    repeat: int = 1,
) -> None:
    """Time each processor and print the table, then the memory table.

    With ``repeat`` > 1 each side's best run counts (shared hosts vary from run to run);
    ``x pandas cpu`` compares the CPU time of this process, which other processes on the
    host disturb less than the wall clock.
    """
    rows, floor = [], []
    for kind, make in MAKERS.items():
        n = waste_readings if kind == "waste" else readings
        batch = synthetic(kind, n, devices)
        runs, timed = [], []
        for _ in range(repeat):  # alternating, so both sides meet the same host conditions
            runs.append(time_processor(make, batch, batches))
            if (pandas_run := time_pandas(kind, batch)) is not None:
                timed.append(pandas_run)
        (wall, cpu), points = _best([r[0] for r in runs]), runs[-1][1]
        mine = [f"{n:,}", f"{wall:.2f}", f"{n / wall:,.0f}", f"{sum(map(len, points)):,}"]
        theirs = ["not installed", "-", "-", "-"]
        if timed:
            (pd_wall, pd_cpu), frames = _best([t[0] for t in timed]), timed[-1][1]
            same = "yes" if agree(points, frames) else "NO"
            theirs = [f"{n / pd_wall:,.0f}", f"{pd_wall / wall:.1f}", f"{pd_cpu / cpu:.1f}", same]
        if kind in PASSES:
            pandas_wall = _best([t[0] for t in timed])[0] if timed else None
            floor.append(kernels(kind, batch, batches, repeat, pandas_wall))
        rows.append([kind, *mine, f"{time_reference(kind, batch):,.0f}", *theirs])
        del batch, points, runs, timed
    header = ["processor", "readings", "seconds", "readings/s", "points", "reference/s"]
    header += ["pandas/s", "x pandas", "x pandas cpu", "same values"]
    print_table(f"processors: {devices:,} devices, {batches} batches in time order", header, rows)
    print("\nWhat each processor and its pandas equivalent compute:")
    for kind, text in LEGEND.items():
        print(f"- {kind}: {text}")
    header = ["processor", "passes (no windows, no percentiles)", "readings/s", "x pandas"]
    print_table("the floor: the NumPy passes alone", header, floor)
    memory(memory_devices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--waste-readings", type=int, default=2_000_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--memory-devices", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    args = parser.parse_args()
    run(
        readings=args.readings,
        waste_readings=args.waste_readings,
        devices=args.devices,
        batches=args.batches,
        memory_devices=args.memory_devices,
        repeat=args.repeat,
    )


if __name__ == "__main__":
    main()
