"""Readings per second of the processors, next to the plain-Python reference and pandas.

Run: ``python -m benchmarks processors`` (or ``python -m benchmarks.processors [--readings N]
[--devices D] [--batches B] [--repeat R]``). Synthetic readings (one per device per interval, in
time order, cut into B batches) go through ``process`` and a final ``flush``, after an untimed
warm-up on the first batch (pandas gets the same on the first tenth); with R > 1 each side's
best of R runs counts. The plain-Python reference (tests/processors/reference.py) runs on a
subsample and its rate is reported as measured (it is linear in the readings). pandas
(optional: ``pip install pandas``) computes the same output fields from all readings at once
(see ``LEGEND``; it has no windows, watermark, late data or alert episodes), from the same
statistics the processor keeps (sums, counts, minima, maxima; means derived from them; the three
percentiles in one call), and the run checks that its values equal the processor's. A second
table gives the memory one hour of 100 k devices' open windows holds (``memory``).

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
from typing import Any

import numpy as np

from benchmarks.table import print_table
from processors.air_index import POLLUTANTS, AirConfig, AirProcessor, eaqi, lki
from processors.base import Batch, Points, Processor
from processors.noise import NoiseConfig, NoiseProcessor, energy, lden, level
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
CHECKED = {
    "air_1h": ("pm25_mean", "o3_min", "no2_max", "pm10_count", "eaqi", "lki"),
    "alert": ("value",),
    "noise_1h": ("laeq", "lamax", "l10", "l50", "l90", "count"),
    "noise_1d": ("lday", "levening", "lnight", "lden", "coverage"),
    "waste_state": ("fill_pct", "emptied", "fill_rate_pct_h", "hours_to_full"),
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
) -> tuple[float, list[Points]]:
    """Seconds to process the batch in ``batches`` parts and flush; the points emitted.

    A throwaway processor takes the first part before the clock starts (warm-up: a service
    runs warm; the first batches of a fresh process mostly measure page faults).
    """
    bounds = np.linspace(0, len(batch), batches + 1).astype(int)
    parts = [batch.take(np.arange(a, b)) for a, b in itertools.pairwise(bounds)]
    make().process(parts[0])
    processor = make()
    begin = time.perf_counter()
    points = [p for part in parts for p in processor.process(part).points]
    points += processor.flush(2**62).points
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


def _pandas_air(pd: Any, batch: Batch) -> dict[str, Any]:
    frame = pd.DataFrame({"device": batch.device, "hour": batch.time_ns // HOUR, **batch.values})
    stats = {f"{n}_{s}": (n, s) for n in POLLUTANTS for s in ("sum", "min", "max", "count")}
    hours = frame.groupby(["device", "hour"]).agg(**stats)  # what the processor keeps
    for n in POLLUTANTS:
        hours[f"{n}_mean"] = hours[f"{n}_sum"] / hours[f"{n}_count"]
    means = {n: hours[f"{n}_mean"].to_numpy() for n in POLLUTANTS}
    hours["eaqi"], hours["eaqi_pollutant"] = eaqi(means)
    hours["lki"] = lki(means)
    cfg, limits = AirConfig(), AirConfig().guidelines()
    local = pd.to_datetime(hours.index.get_level_values("hour") * HOUR, utc=True)
    hours["day"] = _hour_number(local.tz_convert(cfg.timezone).normalize())
    sums = [f"{n}_{s}" for n in limits for s in ("sum", "count")]
    days = hours.groupby(["device", "day"])[sums].sum()
    mean = np.stack([days[f"{n}_sum"] / days[f"{n}_count"] for n in limits], axis=1)
    ratio = mean / np.array(list(limits.values()))
    worst = np.nan_to_num(ratio, nan=-1.0).argmax(axis=1)
    days["value"] = mean[np.arange(len(days)), worst]
    return {"air_1h": hours, "alert": days[np.nan_to_num(ratio).max(axis=1) > 1.0]}


def _pandas_noise(pd: Any, batch: Batch) -> dict[str, Any]:
    frame = pd.DataFrame({"device": batch.device, "hour": batch.time_ns // HOUR, **batch.values})
    frame["energy"] = energy(frame["laeq"].to_numpy())
    grouped = frame.groupby(["device", "hour"])
    stats = {"energy_sum": ("energy", "sum"), "lamax": ("lamax", "max"), "count": ("laeq", "count")}
    hours = grouped.agg(**stats)  # what the processor keeps
    hours["laeq"] = level((hours["energy_sum"] / hours["count"]).to_numpy())
    levels = grouped["laeq"].quantile([0.9, 0.5, 0.1]).unstack()  # one sort for all three
    for name, q in (("l10", 0.9), ("l50", 0.5), ("l90", 0.1)):
        hours[name] = levels[q]
    cfg = NoiseConfig()
    start = pd.to_datetime(hours.index.get_level_values("hour") * HOUR, utc=True)
    wall = start.tz_convert(cfg.timezone).tz_localize(None) - pd.Timedelta(hours=7)
    hours["day"] = wall.normalize()  # the local day D runs from 07:00 D to 07:00 D + 1
    hours["period"] = np.select([wall.hour < 12, wall.hour < 16], ["day", "evening"], "night")
    periods = hours.groupby(["device", "day", "period"])[["energy_sum", "count"]].sum()
    mean = (periods["energy_sum"] / periods["count"]).unstack("period")
    mean = mean.reindex(columns=["day", "evening", "night"])
    days = pd.DataFrame({f"l{p}": level(mean[p]) for p in mean.columns})
    days["lden"] = lden(days["lday"], days["levening"], days["lnight"])
    day = days.index.get_level_values("day")
    seven = [(day + pd.Timedelta(days=n, hours=7)).tz_localize(cfg.timezone) for n in (0, 1)]
    expected = (seven[1] - seven[0]) / pd.Timedelta(seconds=cfg.interval_s)
    present = periods["count"].groupby(level=[0, 1]).sum()
    days["coverage"] = np.minimum(present.to_numpy() / expected.to_numpy(), 1.0)
    midnight = _hour_number(day.tz_localize(cfg.timezone))
    days.index = pd.MultiIndex.from_arrays([days.index.get_level_values("device"), midnight])
    return {"noise_1h": hours, "noise_1d": days}


def _hour_number(instants: Any) -> Any:
    """tz-aware pandas instants as whole hours since the epoch."""
    return instants.as_unit("ns").asi8 // HOUR


def _pandas_waste(pd: Any, batch: Batch) -> dict[str, Any]:
    cfg = WasteConfig()
    frame = pd.DataFrame({"device": batch.device, "time": batch.time_ns, **batch.values})
    frame = frame.sort_values(["device", "time"], kind="stable", ignore_index=True)
    by_device = frame.groupby("device")
    rise = frame["temperature"] - by_device["temperature"].shift(1)
    frame["fire"] = (frame["temperature"] > cfg.fire_temp_c) | (rise > cfg.fire_rise_c)
    before, after = by_device["fill_pct"].shift(1), by_device["fill_pct"].shift(-1)
    drop = cfg.emptying_drop_pp
    frame["emptied"] = (
        (before - frame["fill_pct"] >= drop)
        & (frame["fill_pct"] < cfg.emptied_below_pct)
        & (before - after >= drop)
    )
    position = pd.Series(np.arange(len(frame)))
    since = position.where(frame["emptied"], -1).groupby(frame["device"]).cummax()
    since = np.maximum(since, position - by_device.cumcount())
    frame["hour"] = frame["time"] // HOUR
    last = frame["hour"] != by_device["hour"].shift(-1)
    lagged = {}
    for k in range(cfg.rate_points):
        t, y = by_device["time"].shift(k)[last], by_device["fill_pct"].shift(k)[last]
        usable = (position[last] - k >= since[last]) & (
            frame["time"][last] - t <= cfg.rate_lookback_s * 1e9
        )
        lagged[k] = (t.where(usable), y.where(usable))
    pairs = itertools.combinations(range(cfg.rate_points), 2)
    slopes = pd.DataFrame(
        {(a, b): (lagged[a][1] - lagged[b][1]) / (lagged[a][0] - lagged[b][0]) for a, b in pairs}
    )
    rate = slopes.replace([np.inf, -np.inf], np.nan).median(axis=1) * HOUR
    hours = frame.groupby(["device", "hour"]).agg(
        fill_pct=("fill_pct", "last"), emptied=("emptied", "sum")
    )
    hours["fill_rate_pct_h"] = rate.to_numpy()
    to_full = (100.0 - hours["fill_pct"]).clip(lower=0) / hours["fill_rate_pct_h"]
    hours["hours_to_full"] = to_full.where(hours["fill_rate_pct_h"] > 0)
    return {"waste_state": hours}


def time_pandas(kind: str, batch: Batch) -> tuple[float, dict[str, Any]] | None:
    """Readings per second of the pandas equivalent, and its frames per measurement."""
    try:
        import pandas as pd  # noqa: PLC0415 - optional, benchmark only
    except ImportError:
        return None
    compute = {"air": _pandas_air, "noise": _pandas_noise, "waste": _pandas_waste}[kind]
    compute(pd, batch.take(np.arange(len(batch) // 10)))  # warm-up, as for the processor
    begin = time.perf_counter()
    frames = compute(pd, batch)
    return len(batch) / (time.perf_counter() - begin), frames


def _rate(timed: tuple[float, Any] | None) -> float:
    return timed[0] if timed else 0.0


def agree(points: list[Points], frames: dict[str, Any]) -> bool:
    """Whether every checked field of the processor's last emission equals pandas' value."""
    import pandas as pd  # noqa: PLC0415 - optional, benchmark only

    for measurement, frame in frames.items():
        mine = [p for p in points if p.measurement == measurement]
        device = np.concatenate([p.device for p in mine]).astype(np.int64)
        hour = np.concatenate([p.time_ns for p in mine]) // HOUR
        keys, last = np.unique((device << 32 | hour)[::-1], return_index=True)
        row = device.size - 1 - last  # the last emission of a window wins (it overwrites)
        index = pd.MultiIndex.from_arrays([keys >> 32, keys & 0xFFFFFFFF])
        if len(frame) != keys.size or not frame.index.isin(index).all():
            return False
        theirs = frame.reindex(index)
        for name in CHECKED[measurement]:
            got = np.concatenate([p.fields[name] for p in mine])[row].astype(float)
            want = theirs[name].to_numpy(dtype=float, na_value=np.nan)
            if not np.allclose(got, want, rtol=1e-9, equal_nan=True):
                return False
    return True


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

    With ``repeat`` > 1 each side's best run counts (shared hosts vary from run to run).
    """
    rows = []
    for kind, make in MAKERS.items():
        n = waste_readings if kind == "waste" else readings
        batch = synthetic(kind, n, devices)
        runs = (time_processor(make, batch, batches) for _ in range(repeat))
        seconds, points = min(runs, key=lambda run: run[0])
        pandas = max((time_pandas(kind, batch) for _ in range(repeat)), key=_rate)
        mine = [f"{n:,}", f"{seconds:.2f}", f"{n / seconds:,.0f}", f"{sum(map(len, points)):,}"]
        theirs = ["not installed", "-", "-"]
        if pandas:
            same = "yes" if agree(points, pandas[1]) else "NO"
            theirs = [f"{pandas[0]:,.0f}", f"{n / seconds / pandas[0]:.1f}", same]
        rows.append([kind, *mine, f"{time_reference(kind, batch):,.0f}", *theirs])
        del batch, points, pandas
    header = ["processor", "readings", "seconds", "readings/s", "points", "reference/s"]
    header += ["pandas/s", "x pandas", "same values"]
    print_table(f"processors: {devices:,} devices, {batches} batches in time order", header, rows)
    print("\nWhat each processor and its pandas equivalent compute:")
    for kind, text in LEGEND.items():
        print(f"- {kind}: {text}")
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
