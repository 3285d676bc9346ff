"""pandas equivalents of the processors, for ``benchmarks.processors``: the same output fields
from all readings at once (no windows, watermark, late data or alert episodes), from the same
statistics the processors keep (sums, counts, minima, maxima; means derived from them; the three
percentiles in one call), and a check that their values equal the processor's.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from processors.air_index import POLLUTANTS, AirConfig, eaqi, lki
from processors.base import Batch, Points
from processors.noise import NoiseConfig, energy, lden, level
from processors.waste import WasteConfig

__all__ = ["Seconds", "agree", "stopwatch", "time_pandas"]

HOUR = 3_600 * 10**9
CHECKED = {
    "air_1h": ("pm25_mean", "o3_min", "no2_max", "pm10_count", "eaqi", "lki"),
    "alert": ("value",),
    "noise_1h": ("laeq", "lamax", "l10", "l50", "l90", "count"),
    "noise_1d": ("lday", "levening", "lnight", "lden", "coverage"),
    "waste_state": ("fill_pct", "emptied", "fill_rate_pct_h", "hours_to_full"),
}


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


Seconds = tuple[float, float]  # wall clock, and CPU time of this process


def stopwatch(begin: Seconds | None = None) -> Seconds:
    """The clocks now, or the time elapsed since ``begin``."""
    now = time.perf_counter(), time.process_time()
    return now if begin is None else (now[0] - begin[0], now[1] - begin[1])


def time_pandas(kind: str, batch: Batch) -> tuple[Seconds, dict[str, Any]] | None:
    """Seconds the pandas equivalent takes, and its frames per measurement."""
    try:
        import pandas as pd  # noqa: PLC0415 - optional, benchmark only
    except ImportError:
        return None
    compute = {"air": _pandas_air, "noise": _pandas_noise, "waste": _pandas_waste}[kind]
    compute(pd, batch.take(np.arange(len(batch) // 10)))  # warm-up, as for the processor
    begin = stopwatch()
    frames = compute(pd, batch)
    return stopwatch(begin), frames


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
