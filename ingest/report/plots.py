"""The report's PNG charts (matplotlib's object API on the Agg canvas: no GUI, no global state).

``noise_lden.png``: Lden per location against the WHO 2018 guideline; ``bin_fill.png``: every
bin's hourly fill over the day against the full threshold; ``pm25_daily.png``: each district's
daily mean PM2.5 against the WHO 2021 24-hour guideline. A chart without data says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ingest.report.day import Day
from ingest.report.sections import in_district
from processors import AirConfig, NoiseConfig, WasteConfig

__all__ = ["write_plots"]

Row = Mapping[str, Any]
_HOUR_NS = 3_600 * 10**9
_OK, _OVER, _LIMIT = "#1b7f3b", "#b3261e", "#1d2430"


def write_plots(
    day: Day,
    district: str | None,
    configs: tuple[AirConfig, NoiseConfig, WasteConfig],
    folder: Path,
) -> list[Path]:
    """Write the three charts into ``folder`` (created if missing); their paths."""
    air, noise, waste = configs
    folder.mkdir(parents=True, exist_ok=True)
    sites = {d.name: d.site for d in day.devices}
    where = f"{day.date.isoformat()}{f', {district}' if district else ''}"
    figures = {
        "noise_lden.png": _noise(in_district(day.noise_1d, district), sites, noise, where),
        "bin_fill.png": _bins(in_district(day.waste_state, district), day.start_ns, waste, where),
        "pm25_daily.png": _pm25(in_district(day.air_1h, district), air, where),
    }
    paths = []
    for name, figure in figures.items():
        FigureCanvasAgg(figure)  # the figure draws on the Agg canvas from now on
        figure.savefig(folder / name)
        paths.append(folder / name)
    return paths


def _axes(title: str, height: float = 4.5) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(8, height), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(alpha=0.3)
    return figure, axes


def _no_data(axes: Axes, rows: Sequence[Any]) -> bool:
    if not rows:
        axes.text(0.5, 0.5, "no data for this day", ha="center", transform=axes.transAxes)
    return not rows


def _noise(days: Sequence[Row], sites: Mapping[str, str], noise: NoiseConfig, where: str) -> Figure:
    days = sorted((d for d in days if d.get("lden") is not None), key=lambda d: d["lden"])
    figure, axes = _axes(f"Noise Lden per location, {where}", 2.2 + 0.35 * len(days))
    if _no_data(axes, days):
        return figure
    labels = [sites.get(d["device"]) or d["device"] for d in days]
    levels = [d["lden"] for d in days]
    colours = [_OVER if level > noise.lden_limit_db else _OK for level in levels]
    axes.barh(labels, levels, color=colours)
    axes.axvline(
        noise.lden_limit_db,
        color=_LIMIT,
        linestyle="--",
        label=f"WHO 2018 guideline: Lden {noise.lden_limit_db:g} dB",
    )
    axes.set_xlim(min(30.0, *levels), max(*levels, noise.lden_limit_db) + 5)
    axes.set_xlabel("Lden, dB(A)")
    figure.legend(loc="outside lower center")
    return figure


def _bins(states: Sequence[Row], start_ns: int, waste: WasteConfig, where: str) -> Figure:
    figure, axes = _axes(f"Bin fill level, {where}")
    if _no_data(axes, states):
        return figure
    curves: dict[str, list[Row]] = defaultdict(list)
    for state in sorted(states, key=lambda r: int(r["time"])):
        if state.get("fill_pct") is not None:
            curves[state["device"]].append(state)
    for device, points in sorted(curves.items()):
        hours = [(int(p["time"]) - start_ns) / _HOUR_NS for p in points]
        axes.plot(hours, [p["fill_pct"] for p in points], marker=".", label=device)
    axes.axhline(waste.full_pct, color=_OVER, linestyle="--", label=f"full ({waste.full_pct:g} %)")
    axes.set_xlim(0, 24)
    axes.set_ylim(0, 105)
    axes.set_xlabel("hour of the local day")
    axes.set_ylabel("fill %")
    axes.legend(fontsize="small", ncols=2, loc="upper left")
    return figure


def _pm25(hours: Sequence[Row], air: AirConfig, where: str) -> Figure:
    figure, axes = _axes(f"Daily mean PM2.5 per district, {where}")
    means: dict[str, list[float]] = defaultdict(list)
    for hour in hours:
        if hour.get("pm25_mean") is not None:
            means[hour["district"]].append(float(hour["pm25_mean"]))
    if _no_data(axes, list(means)):
        return figure
    districts = sorted(means)
    daily = [sum(means[d]) / len(means[d]) for d in districts]
    colours = [_OVER if m > air.who_pm25_24h else _OK for m in daily]
    axes.bar(districts, daily, color=colours)
    axes.axhline(
        air.who_pm25_24h,
        color=_LIMIT,
        linestyle="--",
        label=f"WHO 2021 24-hour guideline: {air.who_pm25_24h:g} µg/m³",
    )
    axes.set_ylabel("PM2.5, µg/m³ (mean of hourly means)")
    axes.tick_params(axis="x", labelrotation=20)
    axes.set_ylim(0, max(*daily, air.who_pm25_24h) * 1.15)
    figure.legend(loc="outside lower center")
    return figure
