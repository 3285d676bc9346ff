"""`city-ingest report`: sections chosen from rows, the three formats, and one run against a
real InfluxDB filled by the service from the simulator."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.cli import main
from ingest.model import Kind
from ingest.report.day import Day, Listed, day_bounds
from ingest.report.formats import Format, render
from ingest.report.sections import (
    Table,
    bins_to_collect,
    device_problems,
    noise_exceedances,
    poor_air_hours,
    sections,
)
from processors import NoiseConfig, WasteConfig
from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, public_names, simulate, wait_for_accounting

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DAY = date(2025, 3, 15)
START, END = day_bounds(DAY, AMSTERDAM)
HOUR = 3_600 * 10**9
SILENT_EUI = "70B3D57ED0C0FFEE"


def _row(device: str, district: str, hour: float, **fields: Any) -> dict[str, Any]:
    return {"device": device, "district": district, "time": START + int(hour * HOUR), **fields}


def _names(table: Table) -> list[Any]:
    return [row[0] for row in table.rows]


def test_day_bounds_are_local_midnights_also_on_dst_days() -> None:
    assert (END - START) // HOUR == 24
    assert START == 1741993200 * 10**9  # 2025-03-14T23:00Z
    spring_start, spring_end = day_bounds(date(2025, 3, 30), AMSTERDAM)
    autumn_start, autumn_end = day_bounds(date(2025, 10, 26), AMSTERDAM)
    assert (spring_end - spring_start) // HOUR == 23
    assert (autumn_end - autumn_start) // HOUR == 25


def test_bins_to_collect_uses_the_last_state_and_unanswered_alerts() -> None:
    states = [
        _row("full", "A", 3, fill_pct=40.0, hours_to_full=None, emptied=0),
        _row("full", "A", 20, fill_pct=95.0, hours_to_full=None, emptied=0),
        _row("soon", "B", 20, fill_pct=70, hours_to_full=10.0, emptied=0),
        _row("later", "B", 20, fill_pct=30.0, hours_to_full=40.0, emptied=0),
        _row("emptied", "A", 12, fill_pct=5.0, hours_to_full=None, emptied=1),
        _row("alerted", "B", 22, fill_pct=60.0, hours_to_full=30.0, emptied=0),
        _row("was-full", "A", 2, fill_pct=95.0, hours_to_full=None, emptied=0),
        _row("was-full", "A", 9, fill_pct=3.0, hours_to_full=None, emptied=1),
    ]
    alerts = [
        _row("emptied", "A", 10, type="bin_full"),
        _row("alerted", "B", 8, type="bin_full"),
        _row("later", "B", 8, type="fire"),
    ]
    table = bins_to_collect(states, alerts, WasteConfig())
    assert _names(table) == ["full", "soon", "alerted"]  # fullest first, then by hours to full
    why = {row[0]: row[4] for row in table.rows}
    assert why == {
        "full": "≥ 90 % full",
        "soon": "full within 24 h",
        "alerted": "bin_full alert",
    }
    assert table.rows[1] == ("soon", "B", 70.0, 10.0, "full within 24 h")


def test_noise_exceedances_name_the_location_and_the_guideline_crossed() -> None:
    days = [
        _row("loud", "A", 0, lden=60.0, lnight=44.0, coverage=0.9),
        _row("night", "B", 0, lden=52.0, lnight=47.5, coverage=0.5),
        _row("quiet", "A", 0, lden=50.0, lnight=40.0, coverage=1.0),
        _row("partial", "B", 0, lnight=46.0, coverage=0.2),  # no lden without a full day
    ]
    table = noise_exceedances(days, {"loud": "façade Dam 1", "night": ""}, NoiseConfig())
    assert table.rows == [
        ("façade Dam 1", "A", 60.0, 44.0, 90.0, "Lden", ""),
        ("night", "B", 52.0, 47.5, 50.0, "Lnight", "low coverage: indicative"),
        ("partial", "B", None, 46.0, 20.0, "Lnight", "low coverage: indicative"),
    ]


def test_poor_air_hours_count_the_worst_device_of_each_district_hour() -> None:
    hours = [
        _row("a1", "North", 6, eaqi=3, eaqi_pollutant="no2"),
        _row("a2", "North", 6, eaqi=5, eaqi_pollutant="pm25"),
        _row("a1", "North", 7, eaqi=4, eaqi_pollutant="no2"),
        _row("a2", "North", 8, eaqi=2, eaqi_pollutant="o3"),
        _row("b1", "South", 6, eaqi=3, eaqi_pollutant="pm10"),
        _row("b1", "South", 7, eaqi=None, eaqi_pollutant=None),
    ]
    table = poor_air_hours(hours, AMSTERDAM)
    assert table.rows == [
        ("North", 2, "very poor", "no2, pm25", "06:00 07:00"),  # local hours (UTC+1)
        ("South", 0, "moderate", "", ""),
    ]


def test_device_problems_list_silent_and_failing_devices() -> None:
    devices = [
        Listed("air-1", Kind.AIR, "North", "lamp post"),
        Listed("noise-1", Kind.NOISE, "North", ""),
        Listed("bin-1", Kind.WASTE, "South", "container"),
    ]
    failed = [
        _row("air-1", "North", 1, pm25_qc=4, pm10_qc=1, kind="air"),
        _row("air-1", "North", 2, pm25_qc=4, no2_qc=4, kind="air"),
        _row("bin-1", "South", 2, distance_mm_qc=4, kind="waste"),
    ]
    table = device_problems(devices, frozenset({"air-1", "bin-1"}), failed)
    assert table.rows == [
        ("air-1", "air", "North", "faulty", "2 readings failed QC (no2, pm25)"),
        ("noise-1", "noise", "North", "silent", "no uplink in the day"),
        ("bin-1", "waste", "South", "faulty", "1 reading failed QC (distance_mm)"),
    ]


def _day() -> Day:
    return Day(
        date=DAY,
        zone=AMSTERDAM,
        start_ns=START,
        end_ns=END,
        devices=[Listed("n1", Kind.NOISE, "North", ""), Listed("s1", Kind.NOISE, "South", "")],
        waste_state=[_row("b-north", "North", 5, fill_pct=99.0, hours_to_full=None, emptied=0)],
        alerts=[],
        noise_1d=[
            _row("n1", "North", 0, lden=60.0, lnight=50.0, coverage=1.0),
            _row("s1", "South", 0, lden=61.0, lnight=50.0, coverage=1.0),
        ],
        air_1h=[_row("a-south", "South", 1, eaqi=4, eaqi_pollutant="pm10")],
        linked=frozenset({"n1"}),
        failed=[],
    )


def test_a_district_narrows_every_section() -> None:
    every = sections(_day(), None, NoiseConfig(), WasteConfig())
    assert [len(t.rows) for t in every] == [1, 2, 1, 1]
    south = sections(_day(), "South", NoiseConfig(), WasteConfig())
    assert [_names(t) for t in south] == [[], ["s1"], ["South"], ["s1"]]


def test_formats_render_every_section() -> None:
    tables = sections(_day(), None, NoiseConfig(), WasteConfig())
    tables[1] = Table("noise", "Noise", ("location", "Lden dB"), [("a | b", 60.04)])
    text = render(tables, "report", Format.TABLE)
    assert text.startswith("report\n======\n")
    assert "Bins to collect\n---------------\nbin      district  fill %  full in h  why\n" in text
    assert "b-north  North     99.0" in text
    markdown = render(tables, "report", Format.MD)
    assert "## Noise\n\n| location | Lden dB |\n| --- | --- |\n| a \\| b | 60.0 |\n" in markdown
    blocks = render(tables, "report", Format.CSV).split("\n\n")
    assert len(blocks) == 4
    parsed = list(csv.reader(io.StringIO(blocks[1])))
    assert parsed == [["section", "location", "Lden dB"], ["noise", "a | b", "60.0"]]
    empty = render([Table("none", "Nothing", ("a",), [])], "report", Format.TABLE)
    assert empty.endswith("Nothing\n-------\n(none)\n")


@pytest.mark.slow
def test_report_from_a_simulated_day(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_registry(tmp_path, devices=3, seed=7)
    registry = tmp_path / "devices.csv"
    simulator_registry = tmp_path / "simulator-devices.csv"
    simulator_registry.write_text(registry.read_text(encoding="utf-8"), encoding="utf-8")
    with registry.open("a", encoding="utf-8") as handle:  # a device that never sends
        handle.write(
            f"{SILENT_EUI},zaanstad-air-099,air,city-air-v1,Assendelft,mast,52.47,4.75,municipal,,\n"
        )
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        manifest = simulate(
            tmp_path,
            mosquitto.port,
            *("--messages", "2000", "--seed", "7", "--registry", str(simulator_registry)),
            *("--start", "2025-03-14T23:00:00+01:00", "--faults", "out_of_range=0.03"),
        )
        wait_for_accounting(service, len(manifest))
        names = public_names(tmp_path)
    config, plots = str(tmp_path / "city-ingest.toml"), tmp_path / "plots"
    argv = ["report", "--config", config, "--date", "2025-03-15", "--format", "csv"]
    assert main([*argv, "--plot", str(plots)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    by_section: dict[str, list[list[str]]] = {}
    for row in rows:
        if row and row[0] != "section":
            by_section.setdefault(row[0], []).append(row[1:])

    loud = influxdb.query(
        f"SELECT lden, lnight FROM aggregates.noise_1d WHERE time = {START} "
        "AND (lden > 53 OR lnight > 45) GROUP BY device"
    )
    assert loud
    assert len(by_section["noise_over_guideline"]) == len(loud)
    failing = {  # the simulator's ground truth: out_of_range readings are written with _qc = 4
        names[e["dev_eui"]]
        for e in manifest
        if e["fault"] == "out_of_range" and e["expect"] == "written" and START <= e["time_ns"] < END
    }
    problems = {(r[0], r[3]) for r in by_section["device_problems"]}
    assert problems == {(n, "faulty") for n in failing} | {("zaanstad-air-099", "silent")}
    within = f"time >= {START} AND time < {END}"
    alerted = {
        r["device"]
        for r in influxdb.query(
            f"SELECT value FROM aggregates.alert WHERE type = 'bin_full' AND {within} "
            "GROUP BY device"
        )
    }
    last_states = influxdb.query(
        f"SELECT fill_pct, hours_to_full FROM aggregates.waste_state WHERE {within} "
        "GROUP BY device ORDER BY time DESC LIMIT 1"
    )
    full = {
        r["device"]
        for r in last_states
        if r["fill_pct"] >= 90 or (r["hours_to_full"] is not None and r["hours_to_full"] <= 24)
    }
    bins = {r[0] for r in by_section["bins_to_collect"]}
    assert bins
    assert full <= bins <= full | alerted
    air = influxdb.query(f"SELECT eaqi FROM aggregates.air_1h WHERE {within} GROUP BY district")
    assert {r[0] for r in by_section["poor_air_hours"]} == {r["district"] for r in air}
    for name in ("noise_lden.png", "bin_fill.png", "pm25_daily.png"):
        png = (plots / name).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(png) > 5_000
    assert main([*argv, "--district", "Nowhere"]) == 2
